"""Storage policy backfill (EventBridge Scheduler, daily): every governed bucket's existing objects."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from greenrail.aws import account_id, error_code, region
from greenrail.config import load_policy
from greenrail.decision import Mode
from greenrail.policies import storage

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from greenrail.bus import publish
    from greenrail.state import BlastRadius, run_once

    policy = load_policy().storage
    if policy.mode == Mode.OFF:
        return {"status": "off"}
    account, where = account_id(), region()
    run_id = getattr(context, "aws_request_id", "manual")[:36]
    blast = BlastRadius("storage", policy.blast_radius.max_actions_per_hour)

    def once(subject: dict[str, Any], work: Any) -> Any:
        return run_once(subject, work, "storage_sweep", context)

    report: dict[str, Any] = {"status": "swept", "buckets": {}}
    for bucket in storage.governed_buckets(policy):
        try:
            result = storage.sweep_bucket(bucket, policy, account, where, run_id, blast, once, publish)
        except Exception as exc:  # one bucket's failure must not stop the others
            code = error_code(exc)
            logger.error("bucket sweep failed", extra={"bucket": bucket.name, "error": code, "detail": str(exc)})
            metrics.add_metric(name="SweepBucketErrors", unit=MetricUnit.Count, value=1)
            report["buckets"][bucket.name] = {"error": code}
            continue
        metrics.add_metric(name="ObjectsEvaluated", unit=MetricUnit.Count, value=result.evaluated)
        report["buckets"][bucket.name] = {
            "evaluated": result.evaluated, "decisions": len(result.decisions), "batch_jobs": result.batch_jobs,
        }
    logger.info("sweep finished", extra=report)
    return report
