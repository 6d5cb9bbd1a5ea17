"""What every policy's section of the policy document shares: strictness, exemptions, the blast radius.

Each policy's own configuration model lives in its module (``greenrail.policies.<name>``); the
document that gathers them is ``greenrail.document``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from greenrail.decision import Mode

__all__ = ["BlastRadiusCap", "Exemptions", "Mode", "Strict"]

EXEMPT_TAG_KEY = "greenrail:exempt"
EXEMPT_TAG_VALUE = "true"
MAX_PATTERN_CHARS = 1_000  # an exemption pattern names buckets or keys: longer is a mistake


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Exemptions(Strict):
    """Resources a policy never touches."""

    tag_key: str = EXEMPT_TAG_KEY
    tag_value: str = EXEMPT_TAG_VALUE
    name_patterns: list[str] = Field(default_factory=list, description="Python regular expressions")

    @field_validator("name_patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            shown = pattern if len(pattern) <= 60 else pattern[:60] + "..."
            if len(pattern) > MAX_PATTERN_CHARS:
                raise ValueError(f"regular expression {shown!r} is longer than {MAX_PATTERN_CHARS:,} characters")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {shown!r}: {exc}") from exc
            except (RecursionError, OverflowError) as exc:  # deeply nested groups, huge repeat counts
                raise ValueError(f"regular expression {shown!r} is too complex to compile") from exc
        return patterns

    def exempts(self, name: str, tags: dict[str, str]) -> bool:
        if tags.get(self.tag_key, "").lower() == self.tag_value.lower():
            return True
        return any(re.search(pattern, name) for pattern in self.name_patterns)


class BlastRadiusCap(Strict):
    max_actions_per_hour: int = Field(default=100, ge=0)


