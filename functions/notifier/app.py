"""Notifier: one ``Greenrail Decision`` event -> SNS (Amazon Q Developer) and Slack, now or in a digest.

Invoked asynchronously by an EventBridge rule on Greenrail's bus. With a digest table
(``GREENRAIL_DIGEST_TABLE``) the decision is usually held for its digest (greenrail.digest: per
policy and bucket or account, within a window; a daily digest in dry-run); otherwise, and for
the severities the policy document sends at once, it is sent now. A malformed event is logged
and counted (``MalformedDecision``), not raised: retrying it cannot help. A notification SNS or
Slack refuses for good is logged without its payload and counted (``NotificationRejected``);
transient failures raise, so Lambda retries the event and then dead-letters it.
"""

from __future__ import annotations

from typing import Any

from greenrail.digest import notify_or_hold
from greenrail.document import notifications_config
from greenrail.events import decision_from_event
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
    result = notify_or_hold(decision, notifications_config())
    if result["status"] == "held":
        observe.count("DecisionsHeldForDigest")
        observe.logger.info("decision held for its digest", extra={"window": result["window"]})
        return result
    if result["sns"]:
        observe.count("NotificationsPublished")
    if result["slack"] == "sent":
        observe.count("SlackMessagesSent")
    if result.get("sns_error") or result.get("slack_error"):
        observe.count("NotificationRejected")
    observe.logger.info("decision notified", extra={"sns_message_id": result["sns"], "slack": result["slack"]})
    return result
