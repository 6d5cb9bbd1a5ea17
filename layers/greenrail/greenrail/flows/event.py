"""One AWS event, one decision: an S3 object created (storage), a training job ended (carbon).

Each runs once per resource state (an object's bucket, key, ETag, LastModified, mode and
target class; a job's ARN and status), never once per event id: S3 and SageMaker may deliver
the same change more than once, with different ids. The results are plain dicts the handlers
return; ``metrics`` names what the handler counts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from greenrail import bus
from greenrail.arn import location
from greenrail.aws import ACCESS_DENIED_CODES, NOT_FOUND_CODES, account_id, acting_in, error_code, region
from greenrail.decision import Decision, Mode
from greenrail.flows import Once, Publish, settle
from greenrail.sagemaker_facts import TERMINAL_STATUSES
from greenrail.settings import settings
from greenrail.state import BlastRadius, run_once

if TYPE_CHECKING:  # each handler imports only its own policy's module (cold start): storage or carbon
    from greenrail.policies import carbon as carbon_policy
    from greenrail.policies import storage

logger = logging.getLogger(__name__)


def settle_object(decision: Decision, obj: storage.StorageObject, policy: storage.StoragePolicy,
                  blast_radius: Any, once: Once, publish: Publish) -> Decision:
    """Tag one object and announce it, each once per object state (``greenrail.flows.settle``)."""
    from greenrail.policies import storage

    # the object's state (an overwrite with the same bytes keeps the ETag but not the tags) and
    # what is decided for it (a new policy may choose another class)
    subject = {"bucket": obj.bucket, "key": obj.key, "etag": obj.etag, "modified": obj.last_modified,
               "mode": decision.mode.value, "target": decision.target.get("storage_class")}
    return settle(decision, subject, lambda d: storage.apply(d, obj, policy, blast_radius), once, publish)


def object_created(bucket_name: str, key: str, account: str | None, where: str | None,
                   event_id: str, policy: storage.StoragePolicy, context: Any = None) -> dict[str, Any]:
    """The storage policy for one new object; ``metrics`` in the result lists what to count."""
    from greenrail.policies import storage

    if policy.mode == Mode.OFF:
        return {"status": "off", "metrics": []}
    with acting_in(account):  # a member account's object: act through its Greenrail role
        try:
            bucket = storage.load_bucket(bucket_name)
            if not storage.is_governed(bucket, policy):
                return {"status": "ungoverned", "metrics": []}
            obj = storage.load_object(bucket_name, key)
        except Exception as exc:
            code = error_code(exc)
            if code in NOT_FOUND_CODES or code in ("NoSuchBucket", "NoSuchKey"):
                logger.warning("object or bucket gone before it could be evaluated", extra={"error": code})
                return {"status": "gone", "metrics": ["ResourceGone"]}
            if code in ACCESS_DENIED_CODES:
                logger.error("access denied reading the object or bucket", extra={"error": code})
                return {"status": "access-denied", "metrics": ["AccessDenied"]}
            raise
        decision = storage.decide(obj, bucket, policy, account or account_id(), where or region(), event_id=event_id)
        if decision.action != "none" or decision.already_applied:
            # (an already tagged object may be ours from a delivery that failed before announcing)
            def once(subject: dict[str, Any], work: Any) -> Any:
                return run_once(subject, work, storage.POLICY, context)

            blast = BlastRadius(storage.POLICY, policy.blast_radius.max_actions_per_hour)
            decision = settle_object(decision, obj, policy, blast, once, bus.publish)
    counted = ["Decisions"]
    logged = storage.loggable(decision, policy)  # the key hashed unless the policy opts in
    if decision.error:  # a permanent AWS error: announced as not applied, not retried
        logger.error("action failed", extra={"error": decision.error, "reason": logged["reason"]})
        counted.append("ActionFailed")
    logger.info("decision", extra={"decision": logged})
    return {"status": "decided", "decision": decision.scan_line(), "metrics": counted}


def training_job_ended(job_name: str, account: str | None, event_id: str | None,
                       policy: carbon_policy.CarbonPolicy, context: Any = None) -> dict[str, Any]:
    """The carbon record of a finished job. The event is a hint, not the truth: the job is
    described again and only its own status counts."""
    from greenrail.adapters import sagemaker

    with acting_in(account):  # a member account's job: act through its Greenrail role
        try:
            job = sagemaker.describe_training_job(job_name)
        except Exception as exc:
            code = "ResourceNotFound" if isinstance(exc, sagemaker.TrainingJobNotFound) else error_code(exc)
            if code not in NOT_FOUND_CODES and code not in ACCESS_DENIED_CODES:
                raise  # throttling that outlived botocore's retries: the event is retried, then kept in the DLQ
            logger.error("training job cannot be read: nothing recorded", extra={"error": code})
            return {"status": "unreadable", "error": code, "metrics": ["TrainingJobUnreadable"]}
        status = job.get("TrainingJobStatus")
        if status not in TERMINAL_STATUSES:
            logger.info("job not finished: nothing to record", extra={"status": status})
            return {"status": "skipped", "training_job_status": status, "metrics": []}
        job_key = {"job_name": job_name, "job_arn": job["TrainingJobArn"], "status": status}

        def work() -> dict[str, Any]:
            return _record(job_key, job, policy, event_id)

        if not settings().state_table:
            return work()
        return dict(run_once(job_key, work, "carbon-record", context))


def _record(job_key: dict[str, Any], job: dict[str, Any], policy: carbon_policy.CarbonPolicy,
            event_id: str | None) -> dict[str, Any]:
    from greenrail.adapters import sagemaker
    from greenrail.policies import carbon as carbon_policy

    tags = sagemaker.list_tags(job["TrainingJobArn"])
    measured = carbon_policy.measure_utilization(job)
    job_account, job_region = location(job["TrainingJobArn"])
    decision = carbon_policy.record_training_job(
        job, tags, measured, policy, account=job_account or account_id(), region=job_region or region(),
        event_id=event_id,
    )
    if decision is None:
        logger.info("nothing to record", extra={"training_job": job_key["job_name"], "status": job.get("TrainingJobStatus")})
        return {"status": "skipped", "training_job_status": job.get("TrainingJobStatus"), "metrics": []}
    if decision.action != "none":  # exempt jobs are not announced, like every policy's no-ops
        bus.publish([decision])
    logger.info("carbon decision", extra={"training_job": job_key["job_name"], "reason": decision.reason,
                                          "applied": decision.applied})
    result: dict[str, Any] = {"status": "decided", "decision": decision.model_dump(mode="json"), "metrics": []}
    figures = decision.figures
    if "kwh" in figures:
        # The card and the job go in metadata, not dimensions: a dimension per card would be a
        # custom metric per card ($0.30 a month each).
        result["measurements"] = {"EnergyKWh": figures["kwh"], "EmissionsKgCO2e": figures["kgco2e"]}
        result["metadata"] = {"model_card": str(decision.target.get("model_card", "none")),
                              "training_job": str(figures.get("training_job")),
                              "estimated": str(figures.get("estimated"))}
    return result


def training_job_started(detail: Any, account: str | None, event_id: str | None,
                         policy: carbon_policy.CarbonPolicy, context: Any = None) -> dict[str, Any]:
    """The pre-flight carbon estimate of a job entering InProgress, once per job (SageMaker sends an
    InProgress event at each secondary status). Read from the event alone: nothing is described."""
    from greenrail.events import validation_problems
    from greenrail.policies import carbon as carbon_policy

    started = carbon_policy.parse_starting_job(detail)
    if not isinstance(started, carbon_policy.StartingJob):
        logger.warning("malformed training job event: ignored", extra={"problems": validation_problems(started)})
        return {"status": "ignored", "metrics": ["MalformedEvents"]}
    job_account, job_region = location(started.TrainingJobArn)
    job_key = {"job_arn": started.TrainingJobArn, "preflight": True}

    def work() -> dict[str, Any]:
        decision = carbon_policy.preflight_training_job(
            started, policy, account=job_account or account or account_id(), region=job_region or region(),
            event_id=event_id)
        if decision is None:
            return {"status": "skipped", "metrics": []}
        bus.publish([decision])
        logger.info("pre-flight carbon", extra={"training_job": started.TrainingJobName, "reason": decision.reason})
        return {"status": "decided", "decision": decision.model_dump(mode="json"), "metrics": ["PreflightEstimates"]}

    if not settings().state_table:
        return work()
    return dict(run_once(job_key, work, "carbon-preflight", context))
