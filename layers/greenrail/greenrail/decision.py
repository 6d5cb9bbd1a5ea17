"""The decision record: what a policy concluded about one resource, and what was done.

Decisions are data that flow one way: event -> policy -> decision -> (action, notification,
finding). Every decision is put on Greenrail's own event bus as a ``Greenrail Decision`` event;
the notifier and the auditor consume it from there.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DECISION_SOURCE = "greenrail"
DECISION_DETAIL_TYPE = "Greenrail Decision"


class Mode(StrEnum):
    OFF = "off"
    DRY_RUN = "dry-run"
    ENFORCE = "enforce"


# The six policies of Greenrail (README, "What Greenrail does").
PolicyName = Literal["storage", "training", "endpoints", "retraining", "notebooks", "carbon"]
# What a policy may want done; "none" when the resource complies (or is exempt, or unreadable).
Action = Literal[
    "none",
    "tag", "batch-tag", "recommend-inventory",  # storage
    "stop", "release-warm-pool", "recommend-bayesian", "recommend-early-stopping",
    "recommend-completion-criteria", "recommend-spot", "recommend-colocate",  # training
    "publish-carbon-record", "estimate-carbon",  # carbon
    "downsize", "recommend-serverless", "recommend-async", "recommend-delete", "recommend-autoscaling",  # endpoints
    "retrain", "hold",  # retraining
    "set-idle-shutdown", "delete-app", "set-default-instance", "recommend-auto-stop",  # notebooks
]


class Savings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    usd_per_month: float = 0.0
    kgco2e_per_month: float = 0.0


class Decision(BaseModel):
    """One policy's conclusion about one resource.

    ``action`` is what the policy wants done (``"none"`` when the resource already complies);
    ``applied`` says whether it was done (never in dry-run). ``compliant`` drives the audit
    finding: False while the resource violates the policy (finding FAILED), True once it
    complies (finding PASSED and archived). ``severity`` is the finding's label.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    policy: PolicyName
    resource: str
    account: str
    region: str
    action: Action
    target: dict[str, Any] = Field(default_factory=dict)
    mode: Mode
    applied: bool = False
    compliant: bool = False
    reason: str
    figures: dict[str, Any] = Field(default_factory=dict)
    savings: Savings = Field(default_factory=Savings)
    event_id: str | None = None
    severity: str = "LOW"
    decided_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # What happened to the decision, typed (``figures`` are for people and findings, never read by code):
    held_back: bool = False  # not applied: the policy's blast radius for this hour was reached
    error: str | None = None  # not applied: the AWS error code (or the reason) that stopped it
    already_applied: bool = False  # found already done (perhaps by a run that failed before announcing)
    announced_late: bool = False  # applied earlier; its first announcement failed
    status: str | None = None  # the resource's own status when decided (e.g. a training job's)
    owner: str | None = Field(default=None, max_length=256)  # the resource's greenrail:owner tag (digests)

    def scan_line(self) -> dict[str, Any]:
        """The one-line JSON form printed by ``greenrail scan --format json``."""
        return {
            "policy": self.policy,
            "resource": self.resource,
            "account": self.account,
            "region": self.region,
            "action": self.action,
            "target": self.target,
            "mode": self.mode.value,
            "applied": self.applied,
            "reason": self.reason,
            "savings": self.savings.model_dump(),
        }

    def to_event_entry(self, bus_name: str) -> dict[str, Any]:
        """A PutEvents entry carrying this decision on Greenrail's bus."""
        return {
            "Source": DECISION_SOURCE,
            "DetailType": DECISION_DETAIL_TYPE,
            "EventBusName": bus_name,
            "Resources": [self.resource] if self.resource.startswith("arn:") else [],
            "Detail": self.model_dump_json(),
        }

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Decision:
        """Parse a ``Greenrail Decision`` EventBridge event (raises pydantic.ValidationError)."""
        detail = event.get("detail")
        if isinstance(detail, str):
            detail = json.loads(detail)
        return cls.model_validate(detail)
