"""What every policy's section of the policy document shares: strictness, exemptions, the blast radius.

Each policy's own configuration model lives in its module (``greenrail.policies.<name>``); the
document that gathers them is ``greenrail.document``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from greenrail.decision import Mode

__all__ = ["BlastRadiusCap", "Exemptions", "Mode", "NotificationsConfig", "OwnerRoute", "Strict"]

EXEMPT_TAG_KEY = "greenrail:exempt"
EXEMPT_TAG_VALUE = "true"
OWNER_TAG_KEY = "greenrail:owner"  # who a resource belongs to: their digests (NotificationsConfig.owners)
MAX_PATTERN_CHARS = 1_000  # an exemption pattern names buckets or keys: longer is a mistake


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


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




Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"]
OWNER_SECRET_PREFIX = "greenrail/slack/"  # the notifier and the digest may read only these secrets


class OwnerRoute(Strict):
    """Where one owner's digests go (an owner is the value of a resource's ``greenrail:owner`` tag)."""

    slack_secret_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:greenrail/slack/[A-Za-z0-9/_+=.@-]+$",
        description="a Secrets Manager secret named greenrail/slack/... holding the owner's Slack webhook",
    )
    sns_attribute: str | None = Field(default=None, min_length=1, max_length=64,
                                      description="value of the SNS message attribute `owner` (subscription filters)")


class NotificationsConfig(Strict):
    """The policy document's ``notifications:`` section: digests instead of one message per decision.

    Security Hub findings stay one per resource whatever this says.
    """

    window_minutes: int = Field(default=15, ge=0, le=1440,
                                description="enforce-mode decisions are grouped this long; 0 sends each at once")
    dry_run: Literal["daily", "window", "each"] = Field(
        default="daily", description="dry-run decisions: one daily digest, the enforce window, or each at once")
    daily_at_utc_hour: int = Field(default=8, ge=0, le=23, description="when the daily digest goes out (UTC)")
    top_resources: int = Field(default=5, ge=1, le=20, description="resources listed in a digest, biggest savings first")
    immediate_severities: list[Severity] = Field(
        default_factory=lambda: list[Severity](["CRITICAL"]), description="decisions of these severities are never held for a digest")
    owners: dict[str, OwnerRoute] = Field(default_factory=dict, max_length=100)
