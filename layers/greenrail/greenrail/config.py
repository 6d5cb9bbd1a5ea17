"""The policy document: one YAML document, validated by pydantic.

Unknown keys are errors; every field has a default, documented in the README and in
``policy.example.yaml``. Deployed, the document is read from SSM Parameter Store (the
parameter named by ``GREENRAIL_POLICY_PARAMETER``) through Powertools Parameters, cached;
locally it is a file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from greenrail.decision import Mode

EXEMPT_TAG_KEY = "greenrail:exempt"
EXEMPT_TAG_VALUE = "true"


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
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns

    def exempts(self, name: str, tags: dict[str, str]) -> bool:
        if tags.get(self.tag_key, "").lower() == self.tag_value.lower():
            return True
        return any(re.search(pattern, name) for pattern in self.name_patterns)


class BlastRadius(Strict):
    max_actions_per_hour: int = Field(default=100, ge=0)


class StorageClassRule(Strict):
    """Objects with a key path segment in ``segments`` go to ``storage_class``."""

    segments: list[str]
    storage_class: Literal["ONEZONE_IA", "INTELLIGENT_TIERING", "STANDARD_IA"]


def _default_storage_rules() -> list[StorageClassRule]:
    return [
        StorageClassRule(
            segments=["train", "training", "test", "validation", "val"], storage_class="ONEZONE_IA"
        )
    ]


class StorageSweep(Strict):
    batch_operations_threshold: int = Field(default=10_000, ge=1)
    manifest_bucket: str | None = None
    batch_operations_role_arn: str | None = None


class StoragePolicy(Strict):
    mode: Mode = Mode.DRY_RUN
    opt_in_tag_key: str = "greenrail:storage"
    opt_in_tag_value: str = "managed"
    buckets: list[str] = Field(default_factory=list, description="governed even without the opt-in tag")
    rules: list[StorageClassRule] = Field(default_factory=_default_storage_rules)
    default_storage_class: Literal["INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA"] = (
        "INTELLIGENT_TIERING"
    )
    min_object_size_bytes: int = Field(default=128 * 1024, ge=0)
    transition_days: dict[str, int] = Field(
        default_factory=lambda: {"ONEZONE_IA": 30, "STANDARD_IA": 30, "INTELLIGENT_TIERING": 0}
    )
    target_tag_key: str = "greenrail:storage-class"
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadius = Field(default_factory=lambda: BlastRadius(max_actions_per_hour=10_000))
    sweep: StorageSweep = Field(default_factory=StorageSweep)

    @field_validator("transition_days")
    @classmethod
    def _ia_minimum(cls, days: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(days) - {"ONEZONE_IA", "STANDARD_IA", "INTELLIGENT_TIERING"})
        if unknown:
            raise ValueError(f"unknown storage classes {unknown}: use ONEZONE_IA, STANDARD_IA, INTELLIGENT_TIERING")
        if any(value < 0 for value in days.values()):
            raise ValueError("days cannot be negative")
        for storage_class in ("ONEZONE_IA", "STANDARD_IA"):
            if days.get(storage_class, 30) < 30:
                # S3 refuses lifecycle transitions to the IA classes before 30 days.
                raise ValueError(f"{storage_class} transitions need at least 30 days")
        return days


class IdleRule(Strict):
    gpu_threshold_percent: float = Field(default=5.0, ge=0, le=100)
    cpu_threshold_percent: float = Field(default=5.0, ge=0, le=100)
    window_minutes: int = Field(default=60, ge=5)
    warmup_minutes: int = Field(default=30, ge=0)


class RunawayRule(Strict):
    max_runtime_hours: float = Field(default=72.0, gt=0)
    default_budget_usd: float | None = Field(default=None, gt=0)
    budget_tag_key: str = "greenrail:budget-usd"


class TrainingPolicy(Strict):
    mode: Mode = Mode.DRY_RUN
    check_interval_minutes: int = Field(default=15, ge=1, le=1440)
    idle: IdleRule = Field(default_factory=IdleRule)
    runaway: RunawayRule = Field(default_factory=RunawayRule)
    price_overrides_usd_per_hour: dict[str, float] = Field(default_factory=dict)
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadius = Field(default_factory=lambda: BlastRadius(max_actions_per_hour=10))


class CarbonPolicy(Strict):
    mode: Mode = Mode.DRY_RUN
    model_card_tag_key: str = "greenrail:model-card"
    create_draft_cards: bool = True
    default_utilization: float = Field(default=0.5, ge=0, le=1)
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadius = Field(default_factory=lambda: BlastRadius(max_actions_per_hour=1_000))


class PolicyDocument(Strict):
    version: Literal[1] = 1
    storage: StoragePolicy = Field(default_factory=StoragePolicy)
    training: TrainingPolicy = Field(default_factory=TrainingPolicy)
    carbon: CarbonPolicy = Field(default_factory=CarbonPolicy)

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, data: Any) -> Any:
        return {} if data is None else data


class PolicyError(Exception):
    """A policy document that cannot be used; ``errors`` lists (path, message)."""

    def __init__(self, source: str, errors: list[tuple[str, str]]):
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(f"{path}: {msg}" for path, msg in errors))


def parse_policy(text: str, source: str = "<policy>") -> PolicyDocument:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [("(document)", f"not valid YAML: {exc}")]) from exc
    if data is not None and not isinstance(data, dict):
        raise PolicyError(source, [("(document)", "must be a mapping")])
    try:
        return PolicyDocument.model_validate(data)
    except ValidationError as exc:
        errors = [
            (".".join(str(part) for part in err["loc"]) or "(document)", err["msg"]) for err in exc.errors()
        ]
        raise PolicyError(source, errors) from exc


def load_policy_file(path: str | Path) -> PolicyDocument:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(str(path), [("(file)", exc.strerror or str(exc))]) from exc
    return parse_policy(text, str(path))


_SSM_PROVIDERS: dict[int, Any] = {}


def load_policy() -> PolicyDocument:
    """The policy in force: SSM parameter when deployed, a file or the defaults locally.

    ``GREENRAIL_POLICY_PARAMETER`` names an SSM parameter (cached by Powertools for
    ``GREENRAIL_POLICY_CACHE_SECONDS``, default 300); ``GREENRAIL_POLICY_FILE`` a local file.
    """
    parameter = os.environ.get("GREENRAIL_POLICY_PARAMETER")
    if parameter:
        from aws_lambda_powertools.utilities import parameters

        from greenrail.aws import client

        max_age = int(os.environ.get("GREENRAIL_POLICY_CACHE_SECONDS", "300"))
        ssm = client("ssm")
        # One provider per client, kept for the container's life: that is where Powertools caches.
        provider = _SSM_PROVIDERS.get(id(ssm))
        if provider is None:
            provider = _SSM_PROVIDERS[id(ssm)] = parameters.SSMProvider(boto3_client=ssm)
        text = provider.get(parameter, max_age=max_age, force_fetch=max_age == 0)
        return parse_policy(str(text), f"ssm:{parameter}")
    path = os.environ.get("GREENRAIL_POLICY_FILE")
    if path:
        return load_policy_file(path)
    return PolicyDocument()
