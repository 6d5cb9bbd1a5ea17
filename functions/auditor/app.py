"""Auditor: ``Greenrail Decision`` events -> Security Hub findings (ASFF).

Takes one EventBridge event (the rule target today) or a list of them (a future batch source).
Malformed events are logged and counted (``MalformedDecision``) and skipped: retrying them
cannot help. Security Hub errors and refused findings raise, so Lambda retries the invocation
and then dead-letters it; re-importing is idempotent (finding Id per policy and resource).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from greenrail.audit import audit
from greenrail.decision import Decision
from greenrail.events import decision_from_event

logger = Logger(service="greenrail-auditor")
metrics = Metrics(namespace="Greenrail", service="greenrail-auditor")
copy_config_to_registered_loggers(source_logger=logger, include={"greenrail"})


def _parse(event: Any) -> Decision | None:
    decision: Decision | None = decision_from_event(event, logger, metrics)
    return decision


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any] | list[dict[str, Any]], context: Any) -> dict[str, Any]:
    events = event if isinstance(event, list) else [event]
    decisions = [decision for decision in map(_parse, events) if decision is not None]
    malformed = len(events) - len(decisions)
    if not decisions:
        return {"status": "malformed" if malformed else "empty", "imported": 0, "malformed": malformed}

    # Security Hub takes a finding only from the account it is about: member accounts' findings
    # are imported through their Greenrail role (Organization deployments).
    from greenrail.aws import acting_in

    imported = 0
    for account in sorted({d.account for d in decisions}):
        with acting_in(account):
            imported += audit([d for d in decisions if d.account == account])
    metrics.add_metric(name="FindingsImported", unit=MetricUnit.Count, value=imported)
    logger.info("findings imported", extra={"imported": imported, "malformed": malformed})
    return {"status": "imported", "imported": imported, "malformed": malformed}
