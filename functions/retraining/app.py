"""Retraining gate: a drift alarm, a Model Monitor execution, or the daily sweep -> retrain or hold.

Events: ``CloudWatch Alarm State Change`` to ALARM for Greenrail's drift alarms
(``greenrail-drift-<endpoint>``), ``SageMaker Processing Job State Change`` of a monitoring job,
and ``{"sweep": true}`` from the daily schedule. The work is ``greenrail.flows.retraining``:
once per model, piece of evidence and action.
"""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows.retraining import evaluate_all, models_for_alarm, models_for_schedule, summary
from greenrail.observability import Observability
from greenrail.policies.retraining import POLICY, RetrainingPolicy
from greenrail.state import run_once

observe = Observability("greenrail-retraining")


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: str | None = None
    source: Literal["aws.cloudwatch", "aws.sagemaker"]
    detail_type: Literal["CloudWatch Alarm State Change", "SageMaker Processing Job State Change"] = Field(
        alias="detail-type")
    account: str | None = Field(default=None, pattern=r"^\d{12}$")  # this account's (no member models)
    detail: dict[str, Any]


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    policy = load_section(POLICY, RetrainingPolicy)  # a bad document raises: retried, then kept in the DLQ
    models, event_id = None, None
    if not (isinstance(event, dict) and event.get("sweep") is True):
        try:
            parsed = _Event.model_validate(event)
            if parsed.source == "aws.cloudwatch":
                if parsed.detail["state"]["value"] != "ALARM":
                    return {"status": "ignored", "reason": "alarm not in ALARM"}
                models = models_for_alarm(policy, str(parsed.detail["alarmName"]))
            else:
                models = models_for_schedule(policy, str(parsed.detail["MonitoringScheduleArn"]))
            event_id = parsed.id
        except (ValidationError, KeyError, TypeError) as exc:
            problems = validation_problems(exc) if isinstance(exc, ValidationError) else [
                {"field": "detail", "problem": f"{type(exc).__name__}: a required field is missing or wrong"}]
            return observe.malformed("malformed retraining trigger", problems)
    once = (lambda subject, work: run_once(subject, work, POLICY, context))  # noqa: E731
    decisions = evaluate_all(policy, policy.mode, datetime.now(UTC), once, models, event_id)
    for decision in decisions:
        observe.count(f"Retraining{decision.action.capitalize()}")
    return {"status": "evaluated", **summary(decisions)}
