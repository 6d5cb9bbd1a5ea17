"""Typed models of the AWS events Greenrail reacts to (the shapes in FACTS.md and events/)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenrail.validation import AccountId, BucketName, EventId, ObjectKey, Region


class _Loose(BaseModel):
    # AWS adds fields to its events over time: unknown fields are ignored, required ones checked.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class S3BucketRef(_Loose):
    name: BucketName


class S3ObjectRef(_Loose):
    key: ObjectKey
    size: int | None = Field(default=None, ge=0)
    etag: str | None = None


class S3ObjectCreatedDetail(_Loose):
    bucket: S3BucketRef
    object: S3ObjectRef
    reason: str | None = None


class S3ObjectCreated(_Loose):
    """EventBridge ``Object Created`` from ``aws.s3``."""

    id: EventId
    source: str = Field(pattern=r"^aws\.s3$")
    detail_type: str = Field(alias="detail-type", pattern=r"^Object Created$")
    account: AccountId | None = None  # absent: this account; anything but twelve digits: malformed
    region: Region | None = None
    detail: S3ObjectCreatedDetail


class DecisionLocation(_Loose):
    """Where a ``Greenrail Decision`` event says its resource is: checked where decisions come in
    (the notifier, the auditor), not on ``Decision`` itself, which tests build with any values."""

    account: AccountId
    region: Region


def validation_problems(exc: Exception) -> list[dict[str, str]]:
    """What is wrong with an event, field by field, without echoing its values (they may be secret)."""
    if isinstance(exc, ValidationError):
        return [
            {"field": ".".join(str(p) for p in err["loc"]) or "(detail)", "problem": err["msg"]}
            for err in exc.errors(include_input=False)
        ]
    return [{"field": "detail", "problem": f"{type(exc).__name__}: {exc}"}]


def decision_from_event(event: Any, logger: Any, metrics: Any) -> Any:
    """The Decision a ``Greenrail Decision`` event carries, or None once what is wrong is logged
    (field by field, no values) and counted (``MalformedDecision``): retrying cannot fix it."""
    from aws_lambda_powertools.metrics import MetricUnit

    from greenrail.decision import Decision

    try:
        if not isinstance(event, dict):
            raise TypeError(f"expected an EventBridge event object, got {type(event).__name__}")
        decision = Decision.from_event(event)
        DecisionLocation.model_validate({"account": decision.account, "region": decision.region})
        decision.model_dump_json()  # what Greenrail put on the bus is UTF-8 JSON (no lone surrogates)
        return decision
    except (ValidationError, ValueError, TypeError, RecursionError) as exc:  # (a detail string nested too deep)
        # field names and problems only: an event's values (even its id) are not for the logs
        logger.error("malformed Greenrail Decision event", extra={"problems": validation_problems(exc)})
        metrics.add_metric(name="MalformedDecision", unit=MetricUnit.Count, value=1)
        return None
