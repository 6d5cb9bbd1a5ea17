"""One item of the Organization sweep's Distributed Map: ``{"policy", "account", "region"}``.

The registered policy's scan in that account and region, through the account's member role
only (Greenrail's own account too); its decisions announced once per resource state; returns a
trimmed summary (counts, savings), never the decisions. A role that cannot be assumed raises
``RoleNotAssumable`` and a failed scan ``ScanFailed``: the item fails, the others go on, and the
report names it. Malformed input is logged (field names only), counted, nothing swept.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from greenrail.document import load_policy
from greenrail.events import validation_problems
from greenrail.flows.org_sweep import NAME, Item, sweep_item
from greenrail.observability import Observability
from greenrail.state import run_once

observe = Observability("greenrail-org-sweep-worker")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        item = Item.model_validate(event)
    except ValidationError as exc:
        return observe.malformed("malformed org sweep item: nothing swept", validation_problems(exc))
    observe.logger.append_keys(account=item.account, region=item.region, policy=item.policy)
    once = (lambda subject, work: run_once(subject, work, NAME, context))  # noqa: E731
    try:
        summary = sweep_item(item, load_policy(), once)
    except Exception as exc:  # the item fails (ResultWriter's FAILED file); the report names it
        observe.count("OrgSweepItemFailed")
        observe.logger.error("org sweep item failed", extra={"error": type(exc).__name__, "detail": str(exc)[:300]})
        raise
    observe.count("OrgSweepActions", summary.get("actions", 0))
    return summary
