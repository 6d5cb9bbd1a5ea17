"""Auditor: ``Greenrail Decision`` events -> Security Hub findings (ASFF).

Takes one EventBridge event (the rule target today) or a list of them (a future batch source).
Malformed events are logged and counted (``MalformedDecision``) and skipped: retrying them
cannot help. Security Hub errors and refused findings raise, so Lambda retries the invocation
and then dead-letters it; re-importing is idempotent (finding Id per policy and resource).
"""

from __future__ import annotations

from typing import Any

from greenrail.audit import audit
from greenrail.aws import acting_in
from greenrail.events import decision_from_event
from greenrail.observability import Observability

observe = Observability("greenrail-auditor")


@observe.handler
def handler(event: dict[str, Any] | list[dict[str, Any]], context: Any) -> dict[str, Any]:
    events = event if isinstance(event, list) else [event]
    decisions = [d for d in (decision_from_event(e, observe.logger, observe.metrics) for e in events) if d]
    malformed = len(events) - len(decisions)
    if not decisions:
        return {"status": "malformed" if malformed else "empty", "imported": 0, "malformed": malformed}
    # Security Hub takes a finding only from the account it is about: member accounts' findings
    # are imported through their Greenrail role (Organization deployments).
    imported = 0
    for account in sorted({d.account for d in decisions}):
        with acting_in(account):
            imported += audit([d for d in decisions if d.account == account])
    observe.count("FindingsImported", imported)
    observe.logger.info("findings imported", extra={"imported": imported, "malformed": malformed})
    return {"status": "imported", "imported": imported, "malformed": malformed}
