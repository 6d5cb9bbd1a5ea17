"""Watching training jobs: describe, measure, decide, stop — and nothing twice.

The rule is ``greenrail.policies.training``; this module feeds it from AWS (through the
adapters) and carries out its stops:

* every evaluation describes the job afresh, so a job that is already ``Stopping`` or ended
  gets ``action: none`` and is never stopped a second time, even when a Lambda invocation is
  retried after a stop that succeeded;
* a stop takes one slot of the policy's blast radius (``greenrail.state.BlastRadius``) first;
* a job deleted, or stopped by someone else, between evaluation and action is a no-op
  decision; AccessDenied is a decision with ``applied: False`` and the error named; other
  errors (throttling after botocore's retries) propagate to the caller (the state machine
  retries the Task, then fails the watch).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from greenrail.adapters import cloudwatch, sagemaker
from greenrail.aws import ACCESS_DENIED_CODES, account_id, error_code, region
from greenrail.config import TrainingPolicy
from greenrail.decision import Decision, Mode
from greenrail.policies.training import (
    NAMESPACE,
    POLICY,
    TERMINAL_STATUSES,
    HostUtilisation,
    TrainingJobSnapshot,
    decide,
    metric_period,
    utilisation_basis,
)
from greenrail.pricing import InstancePrice, UnknownInstanceType, training_price
from greenrail.state import BlastRadius

logger = logging.getLogger(__name__)


def _price(instance_type: str, policy: TrainingPolicy) -> InstancePrice | None:
    try:
        return training_price(instance_type, policy.price_overrides_usd_per_hour)
    except UnknownInstanceType:
        return None


def fetch_utilisation(
    jobs: Iterable[TrainingJobSnapshot], policy: TrainingPolicy, now: datetime
) -> dict[str, list[HostUtilisation]]:
    """Each job's per-host utilisation over the idle window, in as few GetMetricData calls as can be.

    Exempt jobs and jobs still inside warm-up + window are skipped: the rule would not look at
    their metrics.
    """
    rule = policy.idle
    period = metric_period(rule)
    window = rule.window_minutes * 60
    queries: list[cloudwatch.MetricQuery] = []
    owners: dict[str, tuple[str, str, str]] = {}  # query id -> (job arn, host, metric)
    for job in jobs:
        if job.status != "InProgress" or job.elapsed_seconds < rule.warmup_minutes * 60 + window:
            continue
        if policy.exemptions.exempts(job.name, job.tags):
            continue
        basis = utilisation_basis(job.instance_type, _price(job.instance_type, policy))
        if basis is None:
            continue
        for host in job.hosts:
            query_id = f"q{len(queries)}"
            queries.append(
                cloudwatch.MetricQuery(
                    id=query_id, namespace=NAMESPACE, metric=basis.metric, dimensions={"Host": host}
                )
            )
            owners[query_id] = (job.arn, host, basis.metric)
    if not queries:
        return {}
    # One extra period before the window, so the first bucket of the window is complete.
    start = datetime.fromtimestamp(now.timestamp() - window - period, UTC)
    series = cloudwatch.get_metric_series(queries, start, now, period)
    result: dict[str, list[HostUtilisation]] = {}
    for query_id, (arn, host, metric) in owners.items():
        found = series[query_id]
        result.setdefault(arn, []).append(
            HostUtilisation(host=host, metric=metric, timestamps=found.timestamps, values=found.values)  # type: ignore[arg-type]
        )
    return result


def _gone_decision(job_name: str, mode: Mode, reason: str, arn: str | None = None) -> Decision:
    return Decision(
        policy=POLICY,
        resource=arn or f"arn:aws:sagemaker:{region()}:{account_id()}:training-job/{job_name}",
        account=account_id(),
        region=region(),
        action="none",
        mode=mode,
        compliant=True,
        reason=reason,
        figures={"job_name": job_name, "status": "NotFound"},
    )


def evaluate(
    job_name: str, policy: TrainingPolicy, now: datetime | None = None, mode: Mode | None = None
) -> Decision:
    """The policy's decision about one job now (DescribeTrainingJob, ListTags, GetMetricData)."""
    now = now or datetime.now(UTC)
    mode = mode or policy.mode
    try:
        described = sagemaker.describe_training_job(job_name)
    except sagemaker.TrainingJobNotFound:
        return _gone_decision(job_name, mode, "TrainingJobNotFound: the job no longer exists")
    tags = (
        sagemaker.list_tags(described["TrainingJobArn"])
        if described["TrainingJobStatus"] == "InProgress"
        else {}
    )
    job = TrainingJobSnapshot.from_api(described, now, account_id(), region(), tags)
    hosts = fetch_utilisation([job], policy, now).get(job.arn, [])
    return decide(job, hosts, policy, now, _price(job.instance_type, policy), mode)


def _with(decision: Decision, reason: str | None = None, **updates: Any) -> Decision:
    figures = {**decision.figures, **updates.pop("figures", {})}
    if reason:
        updates["reason"] = f"{decision.reason}; {reason}"
    return decision.model_copy(update={**updates, "figures": figures})


def apply(decision: Decision, policy: TrainingPolicy, blast_radius: BlastRadius | None = None) -> Decision:
    """Carry out a ``stop`` decision in enforce mode; any other decision is returned as it is."""
    if decision.action != "stop" or decision.mode is not Mode.ENFORCE or decision.applied:
        return decision
    blast_radius = blast_radius or BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)
    if not blast_radius.acquire():
        return _with(
            decision,
            f"not stopped: blast radius of {blast_radius.cap} stops per hour reached",
            figures={"blocked": "BlastRadiusCapReached"},
        )
    job_name = str(decision.figures.get("job_name") or decision.resource.rsplit("/", 1)[-1])
    try:
        sagemaker.stop_training_job(job_name)
    except sagemaker.TrainingJobNotFound:
        return _with(
            decision,
            "TrainingJobNotFound: deleted before the stop; nothing to do",
            action="none",
            compliant=True,
            figures={"status": "NotFound"},
        )
    except sagemaker.TrainingJobNotStoppable as exc:
        return _with(
            decision,
            f"no longer InProgress when stopping ({exc}); nothing to do",
            action="none",
            compliant=True,
            figures={"stop_skipped": "NotInProgress"},
        )
    except Exception as exc:
        code = error_code(exc)
        if code not in ACCESS_DENIED_CODES:
            raise
        logger.warning("StopTrainingJob %s denied: %s", job_name, exc)
        return _with(decision, f"StopTrainingJob failed: {code}", figures={"error": code})
    return _with(decision, applied=True, figures={"status": "Stopping"})


class WatchStep(BaseModel):
    """One turn of the watch workflow: the Task's output and the decision behind it."""

    model_config = ConfigDict(extra="forbid")

    done: bool
    status: str
    action: str
    applied: bool
    publish: bool
    published_action: str
    decision: Decision

    def output(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "status": self.status,
            "action": self.action,
            "applied": self.applied,
            "published_action": self.published_action,
        }


def should_publish(decision: Decision, previous_action: str) -> bool:
    """Notifications stay meaningful: a finding when it appears (or when its stop is applied),
    and the compliant decision once the job is no longer in breach (ended, or recovered) —
    nothing while a stopped job is still ``Stopping``, nothing on an unchanged evaluation.
    """
    if decision.action == "stop":
        return previous_action != "stop" or decision.applied
    return previous_action == "stop" and decision.figures.get("status") != "Stopping"


def watch_step(
    job_name: str,
    policy: TrainingPolicy,
    previous_action: str = "none",
    now: datetime | None = None,
    blast_radius: BlastRadius | None = None,
) -> WatchStep:
    decision = apply(evaluate(job_name, policy, now), policy, blast_radius)
    status = str(decision.figures.get("status", "Unknown"))
    publish = should_publish(decision, previous_action)
    return WatchStep(
        done=status in TERMINAL_STATUSES or status == "NotFound" or policy.mode is Mode.OFF,
        status=status,
        action=decision.action,
        applied=decision.applied,
        publish=publish,
        published_action=decision.action if publish else previous_action,
        decision=decision,
    )


def scan(policy: TrainingPolicy, mode: Mode, now: datetime | None = None) -> list[Decision]:
    """Every InProgress job, from Search (tags inline), metrics fetched in batches."""
    now = now or datetime.now(UTC)
    jobs = [
        TrainingJobSnapshot.from_api(record, now, account_id(), region())
        for record in sagemaker.search_in_progress_training_jobs()
    ]
    utilisation = fetch_utilisation(jobs, policy, now)
    blast_radius = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)
    decisions = []
    for job in jobs:
        decision = decide(
            job, utilisation.get(job.arn, []), policy, now, _price(job.instance_type, policy), mode
        )
        decisions.append(apply(decision, policy, blast_radius))
    return decisions
