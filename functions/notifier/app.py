"""Notifier: one ``Greenrail Decision`` event -> SNS (Amazon Q Developer) and Slack.

Invoked asynchronously by an EventBridge rule on Greenrail's bus. A malformed event is logged
and counted (``MalformedDecision``), not raised: retrying it cannot help. Delivery failures
raise, so Lambda retries the event and then sends it to the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from greenrail.events import decision_from_event
from greenrail.notify import notify

logger = Logger(service="greenrail-notifier")
metrics = Metrics(namespace="Greenrail", service="greenrail-notifier")
copy_config_to_registered_loggers(source_logger=logger, include={"greenrail"})


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    event_id = event.get("id") if isinstance(event, dict) else None
    decision = decision_from_event(event, logger, metrics)
    if decision is None:
        return {"status": "malformed", "event_id": event_id}

    logger.append_keys(policy=decision.policy, resource=decision.resource, event_id=event_id)
    result = notify(decision)
    if result["sns"]:
        metrics.add_metric(name="NotificationsPublished", unit=MetricUnit.Count, value=1)
    if result["slack"] == "sent":
        metrics.add_metric(name="SlackMessagesSent", unit=MetricUnit.Count, value=1)
    logger.info("decision notified", extra={"sns_message_id": result["sns"], "slack": result["slack"]})
    return {"status": "notified", **result}
