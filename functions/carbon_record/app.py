"""CarbonRecordFunction: a training job finished -> its carbon record on its Model Card.

Trigger: EventBridge ``aws.sagemaker`` / ``SageMaker Training Job State Change``. The event is a
hint, not the truth: the job is described again and only its own status counts. Work is
idempotent per job ARN and status (SageMaker may send the same change more than once, with
different event ids) when ``GREENRAIL_STATE_TABLE`` is set. The rule lives in
``greenrail.policies.carbon``; this module only wires it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from greenrail import aws, bus
from greenrail.config import load_policy
from greenrail.decision import Decision
from greenrail.policies import carbon as carbon_policy
from greenrail.policies.training import arn_location

NAMESPACE = "Greenrail"
logger = Logger(service="greenrail-carbon-record")
metrics = Metrics(namespace=NAMESPACE, service="carbon-record")


def _tags(arn: str) -> dict[str, str]:
    paginator = aws.client("sagemaker").get_paginator("list_tags")
    return {
        tag["Key"]: tag["Value"]
        for page in paginator.paginate(ResourceArn=arn)
        for tag in page.get("Tags", [])
    }


def _emit_record_metrics(decision: Decision) -> None:
    """EnergyKWh and EmissionsKgCO2e per model card; the job name goes in metadata, not a dimension."""
    figures = decision.figures
    if "kwh" not in figures:
        return
    # The card and the job go in metadata, not dimensions: a dimension per card would be a
    # custom metric per card ($0.30 a month each); EMF metadata stays searchable in the logs.
    metrics.add_metadata("model_card", str(decision.target.get("model_card", "none")))
    metrics.add_metadata("training_job", str(figures.get("training_job")))
    metrics.add_metadata("estimated", str(figures.get("estimated")))
    metrics.add_metric(name="EnergyKWh", unit=MetricUnit.NoUnit, value=figures["kwh"])
    metrics.add_metric(name="EmissionsKgCO2e", unit=MetricUnit.NoUnit, value=figures["kgco2e"])


def record(job_key: dict[str, Any], job: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """Decide on the described ``job`` and publish; ``job_key`` ({job_name, job_arn, status}) is the idempotency key."""
    policy = load_policy().carbon
    tags = _tags(job["TrainingJobArn"])
    measured = carbon_policy.measure_utilisation(job, aws.client("cloudwatch"))
    # The job's own account and region (a member account's job in an Organization deployment).
    job_account, job_region = arn_location(job["TrainingJobArn"])
    decision = carbon_policy.record_training_job(
        job,
        tags,
        measured,
        policy,
        account=job_account or aws.account_id(),
        region=job_region or aws.region(),
        event_id=event_id,
    )
    if decision is None:
        logger.info(
            "nothing to record",
            extra={"training_job": job_key["job_name"], "status": job.get("TrainingJobStatus")},
        )
        return {"status": "skipped", "training_job_status": job.get("TrainingJobStatus")}
    if decision.action != "none":  # exempt jobs are not announced, like every policy's no-ops
        bus.publish([decision])
    _emit_record_metrics(decision)
    logger.info(
        "carbon decision",
        extra={"training_job": job_key["job_name"], "reason": decision.reason, "applied": decision.applied},
    )
    return {"status": "decided", "decision": decision.model_dump(mode="json")}


@lru_cache(maxsize=1)
def _idempotent_record() -> Any:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    from greenrail.state import idempotency_config, persistence_layer

    config = idempotency_config("[job_arn, status]")
    return config, idempotent_function(
        data_keyword_argument="job_key",
        config=config,
        persistence_store=persistence_layer(),
        key_prefix="greenrail-carbon-record",
    )(record)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        event = {}  # not an EventBridge event at all: handled as malformed below
    detail = event.get("detail")
    name = detail.get("TrainingJobName") if isinstance(detail, dict) else None
    if not isinstance(name, str) or not name:
        # Malformed or near-miss event: log it, count it, and return (a raise would only retry it).
        logger.warning("event without detail.TrainingJobName: ignored", extra={"event_id": event.get("id")})
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        return {"status": "ignored", "reason": "no detail.TrainingJobName"}
    logger.append_keys(training_job=name, event_id=event.get("id"))
    with aws.acting_in(event.get("account")):  # a member account's job: act through its Greenrail role
        return _handle(event, context, name)


def _handle(event: dict[str, Any], context: Any, name: str) -> dict[str, Any]:
    # The event's status is only a hint: read the job and key idempotency on what SageMaker says now.
    try:
        job = aws.client("sagemaker").describe_training_job(TrainingJobName=name)
    except Exception as exc:
        code = aws.error_code(exc)
        if code not in aws.NOT_FOUND_CODES and code not in aws.ACCESS_DENIED_CODES:
            raise  # throttling that outlived botocore's retries: the event is retried, then kept in the DLQ
        logger.error("training job cannot be read: nothing recorded", extra={"error": code})
        metrics.add_metric(name="TrainingJobUnreadable", unit=MetricUnit.Count, value=1)
        return {"status": "unreadable", "error": code}
    status = job.get("TrainingJobStatus")
    if status not in carbon_policy.TERMINAL_STATUSES:
        logger.info("job not finished: nothing to record", extra={"status": status})
        return {"status": "skipped", "training_job_status": status}
    job_key = {"job_name": name, "job_arn": job["TrainingJobArn"], "status": status}
    if not os.environ.get("GREENRAIL_STATE_TABLE"):
        return record(job_key=job_key, job=job, event_id=event.get("id"))
    config, idempotent = _idempotent_record()
    config.register_lambda_context(context)
    result: dict[str, Any] = idempotent(job_key=job_key, job=job, event_id=event.get("id"))
    return result
