"""Storage policy backfill, one step of the daily StorageSweepStateMachine.

``{"plan": true}``: the accounts to sweep (this one, and in an Organization deployment every
active account). ``{"account": "123456789012"}``: sweep that account's governed buckets,
through its Greenrail role when it is not this one; ``{}``: this account. Any other input (an
account that is not twelve digits, a null, a non-boolean plan, another field) is malformed:
logged (field names only), counted (``MalformedEvent``), reported ``malformed``, nothing swept.
See ``greenrail.flows.sweep``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from greenrail.arn import account_of
from greenrail.aws import account_id
from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows.sweep import SweepInput, plan, sweep_account
from greenrail.observability import Observability
from greenrail.policies.storage import POLICY, StoragePolicy

observe = Observability("greenrail-storage-sweep")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = SweepInput.model_validate(event)
    except ValidationError as exc:
        return {"account": None, "buckets": {}, **observe.malformed("malformed sweep input: nothing swept",
                                                                   validation_problems(exc))}
    own = account_of(getattr(context, "invoked_function_arn", "")) or account_id()
    if request.plan:
        planned = plan(own)
        if planned.pop("plan_failed", None):
            observe.count("SweepPlanFailed")
        return planned
    account = request.account or own
    observe.logger.append_keys(account=account)
    report = sweep_account(account, own, load_section(POLICY, StoragePolicy), context)
    observe.count("ObjectsEvaluated", report.pop("evaluated", 0))
    if report.get("errors"):
        observe.count("SweepBucketErrors", report["errors"])
    report.pop("errors", None)
    observe.logger.info("sweep finished", extra=report)
    return report
