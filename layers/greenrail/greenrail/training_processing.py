"""The training policy on SageMaker processing jobs: the same idle and runaway rules.

Part of the ``training`` policy: ``greenrail.policies.training`` (``evaluate_processing``,
``scan``) reads a processing job with DescribeProcessingJob and judges it with its own
``decide`` as a ``TrainingJobSnapshot`` of kind ``processing`` (fields: :func:`snapshot_fields`):
its per-host metrics are in ``/aws/sagemaker/ProcessingJobs`` (dimension ``Host=<job>/algo-<n>``),
its thresholds are the policy's ``processing.idle`` and ``processing.runaway``, its findings
``IdleProcessingJob`` / ``RunawayProcessingJob``, and its stop is StopProcessingJob. A job
without metrics is *insufficient data*, never idle.

A Model Monitor schedule's execution (``MonitoringScheduleArn`` set) is never stopped
(:func:`never_stopped`): the retraining policy reads its report, and the schedule would start
the next one anyway. (Its event does not even reach the watch: the rule excludes it.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from greenrail import arn as arns
from greenrail.adapters import sagemaker
from greenrail.aws import account_id, region
from greenrail.decision import Decision, Mode
from greenrail.sagemaker_facts import DEFAULT_MAX_RUNTIME_SECONDS


def location(arn: str | None) -> tuple[str, str]:
    account, job_region = arns.location(arn)
    return account or account_id(), job_region or region()


def rules(policy: Any) -> dict[str, Any]:
    """The training policy's fields to replace to judge a processing job."""
    return {"idle": policy.processing.idle, "runaway": policy.processing.runaway}


def snapshot_fields(described: dict[str, Any], now: datetime, tags: dict[str, str]) -> dict[str, Any]:
    """A DescribeProcessingJob response as ``TrainingJobSnapshot`` fields."""
    cluster = (described.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    start = described.get("ProcessingStartTime") or described.get("CreationTime")
    end = described.get("ProcessingEndTime")
    elapsed = ((end or now) - start).total_seconds() if isinstance(start, datetime) else 0.0
    account, job_region = location(described["ProcessingJobArn"])
    stopping = described.get("StoppingCondition") or {}
    return {
        "kind": "processing",
        "name": described["ProcessingJobName"],
        "arn": described["ProcessingJobArn"],
        "status": described["ProcessingJobStatus"],
        "instance_type": cluster.get("InstanceType", "unknown"),
        "instance_count": max(1, int(cluster.get("InstanceCount", 1))),
        "start_time": start if isinstance(start, datetime) else None,
        "end_time": end if isinstance(end, datetime) else None,
        "elapsed_seconds": max(0.0, elapsed),
        "tags": tags,
        "max_runtime_seconds": int(stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)),
        "account": account,
        "region": job_region,
    }


def never_stopped(decision: Decision, described: dict[str, Any]) -> Decision:
    """A Model Monitor execution's decision: whatever its metrics, nothing to do."""
    schedule = described.get("MonitoringScheduleArn")
    if not schedule:
        return decision
    figures = {**decision.figures, "monitoring_schedule": schedule}
    figures.pop("findings", None)
    return decision.model_copy(update={
        "action": "none", "compliant": True, "savings": decision.savings.model_copy(
            update={"usd_per_month": 0.0, "kgco2e_per_month": 0.0}),
        "reason": "a Model Monitor schedule's execution: never stopped", "figures": figures, "severity": "LOW",
    })


def gone(job_name: str, mode: Mode, reason: str, arn: str | None, status: str = "NotFound",
         error: str | None = None) -> Decision:
    account, job_region = location(arn)
    return Decision(
        policy="training",
        resource=arn or f"arn:aws:sagemaker:{job_region}:{account}:processing-job/{job_name}",
        account=account, region=job_region, action="none", mode=mode, compliant=error is None, reason=reason,
        figures={"job_name": job_name, "status": status, **({"error": error} if error else {})},
        status=status, error=error,
    )


def in_progress() -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Every InProgress processing job (ListProcessingJobs), described and its tags listed."""
    found = []
    for name in sagemaker.in_progress_processing_job_names():
        try:
            described = sagemaker.describe_processing_job(name)
        except sagemaker.TrainingJobNotFound:
            continue
        found.append((described, sagemaker.list_tags(described["ProcessingJobArn"])))
    return found
