"""Storage policy for one new S3 object (S3 ``Object Created`` via EventBridge).

Thin: parse the event, read the policy, call the storage policy, publish the decision. The
work runs once per object state (bucket, key, ETag) and mode, so the same event delivered
again, or an older event for an object since overwritten, causes no second action.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from greenrail.aws import ACCESS_DENIED_CODES, NOT_FOUND_CODES, account_id, acting_in, error_code, region
from greenrail.config import load_policy
from greenrail.decision import Mode
from greenrail.events import S3ObjectCreated, validation_problems
from greenrail.policies import storage

logger = Logger()
metrics = Metrics()


def _skip(status: str, metric: str, **fields: Any) -> dict[str, Any]:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return {"status": status, **fields}


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        created = S3ObjectCreated.model_validate(event)
    except ValidationError as exc:
        logger.error("malformed S3 Object Created event", extra={"problems": validation_problems(exc),
                                                                   "event_id": event.get("id") if isinstance(event, dict) else None})
        return _skip("malformed", "MalformedEvent")
    with acting_in(created.account):  # a member account's object: act through its Greenrail role
        return _handle(created, context)


def _handle(created: S3ObjectCreated, context: Any) -> dict[str, Any]:
    bucket_name, key = created.detail.bucket.name, created.detail.object.key
    logger.append_keys(bucket=bucket_name, key=key, event_id=created.id)
    policy = load_policy().storage  # a bad policy document raises: the event is retried, then kept in the DLQ
    if policy.mode == Mode.OFF:
        return {"status": "off"}
    try:
        bucket = storage.load_bucket(bucket_name)
        if not storage.is_governed(bucket, policy):
            return {"status": "ungoverned"}
        obj = storage.load_object(bucket_name, key)
    except Exception as exc:
        code = error_code(exc)
        if code in NOT_FOUND_CODES or code in ("NoSuchBucket", "NoSuchKey"):
            logger.warning("object or bucket gone before it could be evaluated", extra={"error": code})
            return _skip("gone", "ResourceGone")
        if code in ACCESS_DENIED_CODES:
            logger.error("access denied reading the object or bucket", extra={"error": code})
            return _skip("access-denied", "AccessDenied")
        raise
    account = created.account or account_id()
    where = created.region or region()

    from greenrail.bus import publish
    from greenrail.state import BlastRadius, run_once

    def once(subject: dict[str, Any], work: Any) -> Any:
        return run_once(subject, work, "storage", context)

    decision = storage.decide(obj, bucket, policy, account, where, event_id=created.id)
    if decision.action != "none" or decision.figures.get("already_tagged"):
        # (an already tagged object may be ours from a delivery that failed before announcing)
        blast = BlastRadius("storage", policy.blast_radius.max_actions_per_hour)
        decision = storage.process_object(decision, obj, policy, blast, once, publish)
    metrics.add_metric(name="Decisions", unit=MetricUnit.Count, value=1)
    if decision.figures.get("error"):  # a permanent AWS error: announced as not applied, not retried
        logger.error("action failed", extra={"error": decision.figures["error"], "reason": decision.reason})
        metrics.add_metric(name="ActionFailed", unit=MetricUnit.Count, value=1)
    logger.info("decision", extra={"decision": decision.scan_line()})
    return {"status": "decided", "decision": decision.scan_line()}
