"""Typed models of the AWS events Greenrail reacts to (the shapes in FACTS.md and events/)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Loose(BaseModel):
    # AWS adds fields to its events over time: unknown fields are ignored, required ones checked.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3BucketRef(_Loose):
    name: str = Field(min_length=3, max_length=63)


class S3ObjectRef(_Loose):
    key: str = Field(min_length=1)
    size: int | None = Field(default=None, ge=0)
    etag: str | None = None


class S3ObjectCreatedDetail(_Loose):
    bucket: S3BucketRef
    object: S3ObjectRef
    reason: str | None = None


class S3ObjectCreated(_Loose):
    """EventBridge ``Object Created`` from ``aws.s3``."""

    id: str
    source: str = Field(pattern=r"^aws\.s3$")
    detail_type: str = Field(alias="detail-type", pattern=r"^Object Created$")
    account: str | None = None
    region: str | None = None
    detail: S3ObjectCreatedDetail


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
        return Decision.from_event(event)
    except (ValidationError, ValueError, TypeError) as exc:
        logger.error(
            "malformed Greenrail Decision event",
            extra={
                "event_id": event.get("id") if isinstance(event, dict) else None,
                "detail_type": event.get("detail-type") if isinstance(event, dict) else None,
                "problems": validation_problems(exc),
            },
        )
        metrics.add_metric(name="MalformedDecision", unit=MetricUnit.Count, value=1)
        return None
