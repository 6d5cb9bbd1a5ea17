"""Watching training jobs: describe, measure, decide, stop — and nothing twice.

The rule is ``greenrail.policies.training``; this module feeds it from AWS (through the
adapters) and carries out its stops:

* every evaluation describes the job afresh, so a job that is already ``Stopping`` or ended
  gets ``action: none`` and is never stopped a second time, even when a Lambda invocation is
  retried after a stop that succeeded;
* a stop takes one slot of the policy's blast radius (``greenrail.state.BlastRadius``) first;
* a job deleted, or stopped by someone else, between evaluation and action is a no-op
  decision; AccessDenied (on DescribeTrainingJob or StopTrainingJob) is a decision with
  ``applied: False`` and the error named; other errors (throttling after botocore's retries)
  propagate to the caller (the state machine retries the Task, then fails the watch);
* decisions carry the job's own account and region (from its ARN), not the central account's:
  in an Organization deployment the job lives in a member account;
* an applied stop is remembered in the state table until it is announced: if the publish after
  a successful StopTrainingJob fails, the retried (or next) turn finds the job ``Stopping`` with
  nothing published, recalls the stop decision and publishes it then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from greenrail.adapters import cloudwatch, sagemaker
from greenrail.aws import ACCESS_DENIED_CODES, account_id, client, error_code, region
from greenrail.config import TrainingPolicy
from greenrail.decision import Decision, Mode
from greenrail.policies.training import (
    NAMESPACE,
    POLICY,
    TERMINAL_STATUSES,
    HostUtilisation,
    TrainingJobSnapshot,
    arn_location,
    decide,
    metric_period,
    utilisation_basis,
)
from greenrail.pricing import InstancePrice, UnknownInstanceType, training_price
from greenrail.state import BlastRadius, table_name

logger = logging.getLogger(__name__)

UNREADABLE = "Unreadable"  # figures.status of a job Greenrail may not describe (AccessDenied)
STOPPED_STATUSES = frozenset({"Stopping", "Stopped"})
STOP_MARKER_SECONDS = 2 * 86_400  # an unannounced stop is recalled for two days at most


def job_location(arn: str | None) -> tuple[str, str]:
    """(account, region) of the job: from its ARN, else where Greenrail runs."""
    account, job_region = arn_location(arn)
    return account or account_id(), job_region or region()


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


def _gone_decision(
    job_name: str,
    mode: Mode,
    reason: str,
    arn: str | None = None,
    status: str = "NotFound",
    error: str | None = None,
) -> Decision:
    account, job_region = job_location(arn)
    figures: dict[str, Any] = {"job_name": job_name, "status": status}
    if error:
        figures["error"] = error
    return Decision(
        policy=POLICY,
        resource=arn or f"arn:aws:sagemaker:{job_region}:{account}:training-job/{job_name}",
        account=account,
        region=job_region,
        action="none",
        mode=mode,
        compliant=error is None,
        reason=reason,
        figures=figures,
    )


def evaluate(
    job_name: str,
    policy: TrainingPolicy,
    now: datetime | None = None,
    mode: Mode | None = None,
    job_arn: str | None = None,
) -> Decision:
    """The policy's decision about one job now (DescribeTrainingJob, ListTags, GetMetricData).

    A job Greenrail may not describe (AccessDenied) gets an ``action: none`` decision with
    ``figures.status`` ``Unreadable`` and the error named: not published, the watch goes on.
    """
    now = now or datetime.now(UTC)
    mode = mode or policy.mode
    try:
        described = sagemaker.describe_training_job(job_name)
    except sagemaker.TrainingJobNotFound:
        return _gone_decision(job_name, mode, "TrainingJobNotFound: the job no longer exists", job_arn)
    except Exception as exc:
        code = error_code(exc)
        if code not in ACCESS_DENIED_CODES:
            raise
        logger.warning("DescribeTrainingJob %s denied: %s", job_name, exc)
        return _gone_decision(
            job_name,
            mode,
            f"DescribeTrainingJob failed: {code}; the job cannot be evaluated",
            job_arn,
            status=UNREADABLE,
            error=code,
        )
    tags = (
        sagemaker.list_tags(described["TrainingJobArn"])
        if described["TrainingJobStatus"] == "InProgress"
        else {}
    )
    account, job_region = job_location(described["TrainingJobArn"])
    job = TrainingJobSnapshot.from_api(described, now, account, job_region, tags)
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
    recovered: bool = False  # a stop applied by an earlier attempt, announced only now

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
    nothing while a stopped job is still ``Stopping``, nothing on an unchanged evaluation,
    nothing about a job that could not be read. (A stop whose announcement failed is published
    by ``watch_step`` from the state table.)
    """
    if decision.figures.get("status") == UNREADABLE:
        return False
    if decision.action == "stop":
        return previous_action != "stop" or decision.applied
    return previous_action == "stop" and decision.figures.get("status") != "Stopping"


def _stop_marker_key(arn: str) -> dict[str, Any]:
    return {"id": {"S": f"training-stop#{arn}"}}


def remember_stop(decision: Decision) -> None:
    """Keep an applied stop decision in the state table, so that it can still be announced if
    publishing it fails (best effort: a failure here is logged, the stop itself stands)."""
    table = table_name()
    if not table:
        return
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key=_stop_marker_key(decision.resource),
            UpdateExpression="SET #decision = :decision, expiration = :expires",
            ExpressionAttributeNames={"#decision": "decision"},
            ExpressionAttributeValues={
                ":decision": {"S": decision.model_dump_json()},
                ":expires": {"N": str(int(time.time()) + STOP_MARKER_SECONDS)},
            },
        )
    except Exception as exc:
        logger.warning("stop of %s not remembered: %s", decision.resource, exc)


def recall_stop(arn: str) -> Decision | None:
    """The stop decision Greenrail applied to the job ``arn``, if it remembered one.

    UpdateItem (with ReturnValues) rather than GetItem: it is the one state-table action the
    watch's role holds; the condition keeps an absent marker from creating an item.
    """
    table = table_name()
    if not table:
        return None
    try:
        response = client("dynamodb").update_item(
            TableName=table,
            Key=_stop_marker_key(arn),
            UpdateExpression="SET recalled_at = :now",
            ConditionExpression="attribute_exists(#decision) AND attribute_not_exists(announced)",
            ExpressionAttributeNames={"#decision": "decision"},
            ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
            ReturnValues="ALL_OLD",
        )
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise
    return Decision.model_validate_json(response["Attributes"]["decision"]["S"])


def mark_announced(decision: Decision) -> None:
    """The stop decision is published: it must not be recalled (and announced) again."""
    table = table_name()
    if not table or decision.action != "stop" or not (decision.applied or decision.figures.get("announced_late")):
        return
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key=_stop_marker_key(decision.resource),
            UpdateExpression="SET announced = :yes",
            ConditionExpression="attribute_exists(#decision)",
            ExpressionAttributeNames={"#decision": "decision"},
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            logger.warning("announcement of the stop of %s not recorded: %s", decision.resource, exc)


def watch_step(
    job_name: str,
    policy: TrainingPolicy,
    previous_action: str = "none",
    now: datetime | None = None,
    blast_radius: BlastRadius | None = None,
    job_arn: str | None = None,
) -> WatchStep:
    decision = apply(evaluate(job_name, policy, now, job_arn=job_arn), policy, blast_radius)
    status = str(decision.figures.get("status", "Unknown"))
    recovered = False
    if decision.applied:
        remember_stop(decision)
    elif decision.action == "none" and status in STOPPED_STATUSES:
        # Stopping or stopped: if we stopped it and never announced the stop, its publish failed
        # (whatever was announced before: a dry-run or held-back stop finding, say).
        pending = recall_stop(decision.resource)
        if pending is not None:
            recovered = True
            decision = _with(
                pending,
                "announced late: publishing the stop failed the first time",
                figures={"status": status, "announced_late": True},
            )
    publish = recovered or should_publish(decision, previous_action)
    ended = status in TERMINAL_STATUSES or status == "NotFound"
    return WatchStep(
        # A late stop announcement on a Stopped job: one more turn publishes the compliant decision.
        done=(ended and not recovered) or policy.mode is Mode.OFF,
        status=status,
        action=decision.action,
        applied=decision.applied,
        publish=publish,
        published_action=decision.action if publish else previous_action,
        decision=decision,
        recovered=recovered,
    )


def scan(policy: TrainingPolicy, mode: Mode, now: datetime | None = None) -> list[Decision]:
    """Every InProgress job, from Search (tags inline), metrics fetched in batches."""
    now = now or datetime.now(UTC)
    jobs = [
        TrainingJobSnapshot.from_api(record, now, *job_location(record.get("TrainingJobArn")))
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
