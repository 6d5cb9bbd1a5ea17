"""Storage policy backfill, one step of the daily StorageSweepStateMachine.

``{"plan": true}``: the accounts to sweep: this account, and in an Organization deployment every
active account of the Organization (ListAccounts: run it from the management account or a
delegated administrator). ``{"account": "123456789012"}``: sweep that account's governed buckets,
through its Greenrail role when it is not this one. The workflow fans the accounts out with a
Distributed Map; one account's failure does not stop the others.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from greenrail.aws import acting_in, client, error_code, region
from greenrail.config import load_policy
from greenrail.decision import Mode
from greenrail.policies import storage

logger = Logger()
metrics = Metrics()


def _own_account(context: Any) -> str:
    arn = getattr(context, "invoked_function_arn", "")
    if arn.count(":") >= 4:
        return str(arn.split(":")[4])
    from greenrail.aws import account_id

    return account_id()


def plan(own: str) -> dict[str, Any]:
    accounts = [own]
    if os.environ.get("GREENRAIL_MEMBER_ROLE_NAME"):
        try:
            paginator = client("organizations").get_paginator("list_accounts")
            accounts += sorted(
                # Organizations replaces Status with State (September 2026): read either
                account["Id"] for page in paginator.paginate() for account in page["Accounts"]
                if (account.get("State") or account.get("Status")) == "ACTIVE" and account["Id"] != own
            )
        except Exception as exc:  # not the management or a delegated administrator account
            logger.error("cannot list the Organization's accounts: sweeping this account only",
                         extra={"error": error_code(exc)})
            metrics.add_metric(name="SweepPlanFailed", unit=MetricUnit.Count, value=1)
    return {"targets": [{"account": account} for account in accounts]}


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    own = _own_account(context)
    if isinstance(event, dict) and event.get("plan"):
        return plan(own)
    account = str(event.get("account") or own) if isinstance(event, dict) else own
    logger.append_keys(account=account)
    with acting_in(account):
        return sweep(account, own, context)


def sweep(account: str, own: str, context: Any) -> dict[str, Any]:
    from greenrail.bus import publish
    from greenrail.state import BlastRadius, run_once

    policy = load_policy().storage
    if policy.mode == Mode.OFF:
        return {"account": account, "status": "off", "buckets": {}}
    if account != own:
        # Batch Operations jobs are prepared in the deploying account only (its role and
        # manifest bucket); member accounts' objects are tagged one by one, within the blast radius.
        policy = policy.model_copy(update={"sweep": policy.sweep.model_copy(
            update={"batch_operations_threshold": 2**62})})
    blast = BlastRadius("storage", policy.blast_radius.max_actions_per_hour)

    def once(subject: dict[str, Any], work: Any) -> Any:
        return run_once(subject, work, "storage", context)

    report: dict[str, Any] = {"account": account, "status": "swept", "buckets": {}}
    for bucket in storage.governed_buckets(policy):
        try:
            result = storage.sweep_bucket(bucket, policy, account, region(), blast, once, publish)
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
