"""Auditor: ``Greenrail Decision`` events -> Security Hub findings (ASFF).

Takes one EventBridge event (the rule target today) or a list of them (a future batch source).
Malformed events are logged and counted (``MalformedDecision``) and skipped: retrying them
cannot help. Decisions for an account that is neither this one nor an ACTIVE account of the
Organization are logged, counted (``ForgedDecision``) and dropped (``greenrail.audit.record``). Security Hub errors and refused findings raise, so Lambda retries the invocation
and then dead-letters it; re-importing is idempotent (finding Id per policy and resource).
"""

from __future__ import annotations

from typing import Any

from greenrail.arn import account_of
from greenrail.audit import record
from greenrail.aws import account_id
from greenrail.events import decision_from_event
from greenrail.observability import Observability

observe = Observability("greenrail-auditor")


@observe.handler
def handler(event: dict[str, Any] | list[dict[str, Any]], context: Any) -> dict[str, Any]:
    events = event if isinstance(event, list) else [event]
    decisions = [d for d in (decision_from_event(e, observe.logger, observe.metrics) for e in events) if d]
    malformed = len(events) - len(decisions)
    if not decisions:
        return {"status": "malformed" if malformed else "empty", "imported": 0, "malformed": malformed, "forged": 0}
    own = account_of(getattr(context, "invoked_function_arn", "")) or account_id()
    imported, forged = record(decisions, own)  # each in its own account, if it is one of ours
    if forged:
        observe.count("ForgedDecision", forged)
    observe.count("FindingsImported", imported)
    observe.logger.info("findings imported", extra={"imported": imported, "malformed": malformed, "forged": forged})
    return {"status": "imported", "imported": imported, "malformed": malformed, "forged": forged}
