"""The retraining gate, for one model or all: on a drift alarm, on a Model Monitor execution,
on the daily sweep and on ``greenrail scan``.

Each evaluation reads the model's evidence (``policies.retraining.load_model``), opens or keeps
shut the gate (``decide``), chooses the lowest-carbon hour only when the gate opens
(``greenrail.carbon_window``), schedules the run in enforce mode (``apply``) and announces the
decision, each once per model, piece of evidence and action (``greenrail.flows.settle``): the
same alarm delivered three times, or the sweep after the alarm, schedule and announce once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from greenrail import bus
from greenrail.decision import Decision, Mode
from greenrail.flows import Once, settle
from greenrail.policies.retraining import (
    ALARM_PREFIX,
    POLICY,
    ModelSpec,
    RetrainingPolicy,
    apply,
    assess,
    gate,
    unevaluated,
)
from greenrail.state import BlastRadius

logger = logging.getLogger(__name__)


def alarm_name(spec: ModelSpec) -> str:
    """The drift alarm Greenrail keeps for a model (CloudWatch: at most 255 characters)."""
    return f"{ALARM_PREFIX}{spec.endpoint}"[:255]


def evaluate(spec: ModelSpec, policy: RetrainingPolicy, mode: Mode, now: datetime, once: Once,
             blast: BlastRadius, event_id: str | None = None) -> Decision:
    """One model's decision, applied and announced once per piece of evidence and outcome."""
    model, decision = assess(spec, policy, mode, now, event_id)
    if decision.action == "none":
        return decision
    # One announcement per piece of evidence and outcome: a run, and a hold because that run has
    # started or is scheduled, are one outcome ("acted"); a hold for a healthy KPI may still turn
    # into a run for the same evidence, and is announced again then.
    subject = {"policy": POLICY, "account": model.account, "region": model.region, "endpoint": model.endpoint,
               "pipeline": model.pipeline, "evidence": model.drift.evidence_id,
               "outcome": gate(model, policy, now).outcome, "mode": mode.value}
    return settle(decision, subject, lambda d: apply(d, model, policy, blast), once, bus.publish,
                  remember_errors=False)


def ensure_alarm(spec: ModelSpec, policy: RetrainingPolicy) -> str | None:
    """Keep the model's drift alarm (enforce mode, CloudWatch drift sources): its state change
    to ALARM starts an evaluation at once, instead of waiting for the daily sweep."""
    from greenrail.adapters import cloudwatch

    drift = spec.drift
    if policy.mode is not Mode.ENFORCE or drift.source != "cloudwatch" or drift.metric_name is None:
        return None
    namespace = drift.namespace or next(iter(cloudwatch.namespaces_of(drift.metric_name, drift.dimensions)), None)
    if namespace is None or drift.threshold is None:
        return None
    cloudwatch.put_threshold_alarm(
        alarm_name(spec), f"Greenrail retraining: drift of {spec.endpoint} ({drift.metric_name})", namespace,
        # one period over the whole lookback: the alarm sees the statistic the gate judges
        # (an alarm's period x evaluation periods is at most one day)
        drift.metric_name, drift.dimensions, drift.statistic, min(drift.lookback_hours * 3600, 86_400),
        drift.threshold)
    return alarm_name(spec)


def evaluate_all(policy: RetrainingPolicy, mode: Mode, now: datetime, once: Once,
                 models: list[ModelSpec] | None = None, event_id: str | None = None) -> list[Decision]:
    """Every configured model (or those given); one model's failure does not stop the others
    unless it is a retryable error, which is raised once the others are done."""
    blast = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)
    decisions: list[Decision] = []
    failure: Exception | None = None
    for spec in policy.models if models is None else models:
        try:
            if models is None:  # the sweep keeps the alarms; events need not
                ensure_alarm(spec, policy)
            decisions.append(evaluate(spec, policy, mode, now, once, blast, event_id))
        except Exception as exc:  # noqa: BLE001 - reported, and the rest still evaluated
            from greenrail.aws import error_code, is_permanent

            code = error_code(exc)
            logger.error("retraining evaluation failed", extra={"endpoint": spec.endpoint, "error": code})
            if not is_permanent(exc):
                failure = failure or exc
                continue
            decision = unevaluated(spec, mode, code)
            subject = {"policy": POLICY, "endpoint": spec.endpoint, "error": code, "day": now.date().isoformat()}
            decisions.append(settle(decision, subject, lambda d: d, once, bus.publish))
    if failure is not None:
        raise failure
    return decisions


def models_for_alarm(policy: RetrainingPolicy, name: str) -> list[ModelSpec]:
    return [m for m in policy.models if alarm_name(m) == name]


def models_for_schedule(policy: RetrainingPolicy, schedule_arn: str) -> list[ModelSpec]:
    schedule = schedule_arn.rsplit("/", 1)[-1]
    return [m for m in policy.models if m.drift.source == "model-monitor" and (m.drift.schedule or "").lower()
            == schedule.lower()]


def summary(decisions: list[Decision]) -> dict[str, Any]:
    return {"decisions": [d.scan_line() for d in decisions],
            "retrain": sum(d.action == "retrain" for d in decisions), "hold": sum(d.action == "hold" for d in decisions)}
