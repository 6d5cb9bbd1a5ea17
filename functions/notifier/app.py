"""Notifier: one ``Greenrail Decision`` event -> SNS (Amazon Q Developer) and Slack.

Invoked asynchronously by an EventBridge rule on Greenrail's bus. A malformed event is logged
and counted (``MalformedDecision``), not raised: retrying it cannot help. A notification SNS or
Slack refuses for good is logged without its payload and counted (``NotificationRejected``);
transient delivery failures raise, so Lambda retries the event and then dead-letters it.
"""

from __future__ import annotations

from typing import Any

from greenrail.events import decision_from_event
from greenrail.notify import notify
from greenrail.observability import Observability

observe = Observability("greenrail-notifier")
LOGGED_RESOURCE_MAX = 256  # the resource goes on every log line: keep it short


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    event_id = event.get("id") if isinstance(event, dict) else None
    decision = decision_from_event(event, observe.logger, observe.metrics)
    if decision is None:
        return {"status": "malformed", "event_id": event_id}

    observe.logger.append_keys(policy=decision.policy, resource=decision.resource[:LOGGED_RESOURCE_MAX],
                               event_id=event_id)
    result = notify(decision)
    if result["sns"]:
        observe.count("NotificationsPublished")
    if result["slack"] == "sent":
        observe.count("SlackMessagesSent")
    if result.get("sns_error") or result.get("slack_error"):
        observe.count("NotificationRejected")
    observe.logger.info("decision notified", extra={"sns_message_id": result["sns"], "slack": result["slack"]})
    return {"status": "notified", **result}
