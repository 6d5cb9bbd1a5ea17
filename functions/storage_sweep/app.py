"""Storage policy backfill, one step of the daily StorageSweepStateMachine.

``{"plan": true}``: the accounts to sweep (this one, and in an Organization deployment every
active account). ``{"account": "123456789012"}``: sweep that account's governed buckets,
through its Greenrail role when it is not this one. See ``greenrail.flows.sweep``.
"""

from __future__ import annotations

from typing import Any

from greenrail.arn import account_of
from greenrail.aws import account_id
from greenrail.document import load_section
from greenrail.flows.sweep import plan, sweep_account
from greenrail.observability import Observability
from greenrail.policies.storage import POLICY, StoragePolicy

observe = Observability("greenrail-storage-sweep")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    own = account_of(getattr(context, "invoked_function_arn", "")) or account_id()
    if isinstance(event, dict) and event.get("plan"):
        planned = plan(own)
        if planned.pop("plan_failed", None):
            observe.count("SweepPlanFailed")
        return planned
    account = str(event.get("account") or own) if isinstance(event, dict) else own
    observe.logger.append_keys(account=account)
    report = sweep_account(account, own, load_section(POLICY, StoragePolicy), context)
    observe.count("ObjectsEvaluated", report.pop("evaluated", 0))
    if report.get("errors"):
        observe.count("SweepBucketErrors", report["errors"])
    report.pop("errors", None)
    observe.logger.info("sweep finished", extra=report)
    return report
