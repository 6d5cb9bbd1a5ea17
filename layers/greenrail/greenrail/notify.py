"""Telling people about one decision: an SNS message for Amazon Q Developer, and Slack.

* SNS (``GREENRAIL_TOPIC_ARN``): the message is an Amazon Q Developer in chat applications
  custom notification (``version`` "1.0", ``source`` "custom", ``content`` and ``metadata``;
  AWS docs, "Custom notifications using Amazon Q Developer in chat applications"), so a topic
  mapped to a chat channel renders it as is; other subscribers read the same JSON. Message
  attributes ``policy``, ``action``, ``mode``, ``applied`` and ``severity`` let subscribers
  filter.
* Slack (``GREENRAIL_SLACK_SECRET_ARN``): an incoming webhook, Block Kit. The webhook URL is a
  secret: it is read from Secrets Manager through Powertools Parameters (cached for
  ``GREENRAIL_SLACK_SECRET_CACHE_SECONDS``, default 300), and never reaches a log line or an
  exception message. HTTP 429 is retried by slack_sdk's ``RateLimitErrorRetryHandler``, which
  sleeps for ``Retry-After``; there is no retry loop here.

Both channels are always tried; if either failed, :class:`NotificationError` is raised at the
end so the asynchronous invocation is retried (then dead-lettered). Delivery is at least once:
a retry after a Slack failure publishes the SNS message again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from greenrail.aws import client, error_code
from greenrail.decision import Decision, Mode

logger = logging.getLogger(__name__)

SUBJECT_MAX = 99  # SNS Publish: ASCII, no line breaks, "less than 100 characters" (botocore model)
SLACK_HEADER_MAX = 150  # Block Kit header: plain_text, at most 150 characters
SLACK_FIELD_MAX = 2000  # Block Kit section field: at most 2,000 characters
SLACK_TEXT_MAX = 3000  # Block Kit section / context text: at most 3,000 characters
CHAT_DESCRIPTION_MAX = 3000  # kept well inside a chat message
SLACK_TIMEOUT_SECONDS = 10
SLACK_MAX_RATE_LIMIT_RETRIES = 2
REDACTED = "<redacted webhook url>"

_slack_skip_logged = False
_secrets_provider: Any = None


class NotificationError(Exception):
    """One or more channels failed; raised after every channel was tried."""


class SlackDeliveryError(Exception):
    """Slack did not accept the message. The message never contains the webhook URL."""


def reset() -> None:
    """Forget the cached secret and the "Slack skipped" flag (tests)."""
    global _slack_skip_logged, _secrets_provider
    _slack_skip_logged = False
    _secrets_provider = None


# --- wording --------------------------------------------------------------------------------


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 0.01:
        return f"{value:,.2f}"
    return f"{value:.2g}"


def savings_text(decision: Decision) -> str:
    """``$0.42/month, 0.01 kgCO2e/month``, or an empty string when nothing is saved."""
    savings = decision.savings
    if not savings.usd_per_month and not savings.kgco2e_per_month:
        return ""
    return f"${_number(savings.usd_per_month)}/month, {_number(savings.kgco2e_per_month)} kgCO2e/month"


def _target_text(decision: Decision) -> str:
    if not decision.target:
        return ""
    values = [v for v in decision.target.values() if isinstance(v, str | int | float) and v != ""]
    if len(values) == 1 and len(decision.target) == 1:
        return f" for {values[0]}"
    return " for " + ", ".join(f"{k}={v}" for k, v in decision.target.items())


def human_text(decision: Decision) -> str:
    """One line for people, e.g.
    ``[dry-run] storage: would tag s3://b/k for ONEZONE_IA — saves $0.42/month, 0.01 kgCO2e/month``.
    """
    verb = decision.action.replace("_", " ")
    if decision.action == "none":
        what = f"no action for {decision.resource} ({decision.reason})"
    elif decision.applied:
        what = f"{verb} {decision.resource}{_target_text(decision)} (applied)"
    else:
        what = f"would {verb} {decision.resource}{_target_text(decision)}"
        if decision.mode is Mode.ENFORCE:
            what += " (not applied)"
    saved = savings_text(decision)
    return f"[{decision.mode.value}] {decision.policy}: {what}" + (f" — saves {saved}" if saved else "")


def subject(decision: Decision) -> str:
    """An SNS subject: printable ASCII, one line, at most 100 characters."""
    text = f"Greenrail [{decision.mode.value}] {decision.policy}: {decision.action} {decision.resource}"
    ascii_text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return _truncate(ascii_text, SUBJECT_MAX, ellipsis="...")


def _truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis


def next_steps(decision: Decision) -> list[str]:
    if decision.compliant or decision.action == "none":
        return ["No action needed."]
    steps: list[str] = []
    if decision.mode is not Mode.ENFORCE:
        steps.append(
            f"Review the decision; set `{decision.policy}.mode: enforce` in the Greenrail policy to apply it."
        )
    elif not decision.applied:
        steps.append("Not applied: check the reason (blast radius, exemption or error) and the logs.")
    steps.append("To exempt the resource, tag it `greenrail:exempt=true`.")
    return steps


def thread_id(decision: Decision) -> str:
    """Decisions about the same resource and policy share a chat thread."""
    digest = hashlib.sha256(decision.resource.encode()).hexdigest()[:16]
    return f"greenrail-{decision.policy}-{digest}"


def chat_notification(decision: Decision) -> dict[str, Any]:
    """The Amazon Q Developer in chat applications custom-notification document."""
    saved = savings_text(decision) or "none estimated"
    description = "\n".join(
        [
            f"*Resource:* `{decision.resource}`",
            f"*Action:* {decision.action} ({'applied' if decision.applied else 'not applied'})",
            f"*Mode:* {decision.mode.value}",
            f"*Savings:* {saved}",
            f"*Reason:* {decision.reason}",
        ]
    )
    context = {
        "policy": decision.policy,
        "action": decision.action,
        "mode": decision.mode.value,
        "applied": str(decision.applied).lower(),
        "compliant": str(decision.compliant).lower(),
        "account": decision.account,
        "region": decision.region,
        "usdPerMonth": f"{decision.savings.usd_per_month:.4f}",
        "kgco2ePerMonth": f"{decision.savings.kgco2e_per_month:.4f}",
        "decidedAt": decision.decided_at.isoformat(),
    }
    if decision.event_id:
        context["eventId"] = decision.event_id
    message: dict[str, Any] = {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": _truncate(f":seedling: Greenrail {decision.policy}: {decision.action}", 250),
            "description": _truncate(description, CHAT_DESCRIPTION_MAX),
            "nextSteps": next_steps(decision),
            "keywords": [decision.policy, decision.mode.value, decision.action],
        },
        "metadata": {
            "threadId": thread_id(decision),
            "summary": human_text(decision),
            "eventType": "GreenrailDecision",
            "relatedResources": [decision.resource],
            "additionalContext": context,
        },
    }
    if decision.event_id:
        message["id"] = decision.event_id
    return message


def slack_message(decision: Decision) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` (fallback and notifications) plus Block Kit blocks."""

    def field(label: str, value: str) -> dict[str, str]:
        return {"type": "mrkdwn", "text": _truncate(f"*{label}*\n{value}", SLACK_FIELD_MAX)}

    text = human_text(decision)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _truncate(f"Greenrail {decision.policy}: {decision.action}", SLACK_HEADER_MAX),
            },
        },
        {
            "type": "section",
            "fields": [
                field("Policy", decision.policy),
                field("Resource", f"`{decision.resource}`"),
                field("Action", decision.action),
                field("Mode", decision.mode.value),
                field("Applied", "yes" if decision.applied else "no"),
                field("Savings", savings_text(decision) or "none estimated"),
                field("Reason", decision.reason),
            ],
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _truncate(
                        f"account {decision.account} · {decision.region} · "
                        f"{decision.decided_at.isoformat()}"
                        + (f" · event {decision.event_id}" if decision.event_id else ""),
                        SLACK_TEXT_MAX,
                    ),
                }
            ],
        },
    ]
    return {"text": _truncate(text, SLACK_TEXT_MAX), "blocks": blocks}


# --- delivery -------------------------------------------------------------------------------


def publish_sns(decision: Decision, topic_arn: str) -> str:
    """Publish the chat notification; returns the SNS message id."""

    def attribute(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": value or "-"}

    response = client("sns").publish(
        TopicArn=topic_arn,
        Subject=subject(decision),
        Message=json.dumps(chat_notification(decision), ensure_ascii=False),
        MessageAttributes={
            "policy": attribute(decision.policy),
            "action": attribute(decision.action),
            "mode": attribute(decision.mode.value),
            "applied": attribute(str(decision.applied).lower()),
            "severity": attribute(decision.severity.upper()),
        },
    )
    return str(response["MessageId"])


def _secrets() -> Any:
    global _secrets_provider
    if _secrets_provider is None:
        from aws_lambda_powertools.utilities import parameters

        _secrets_provider = parameters.SecretsProvider(boto3_client=client("secretsmanager"))
    return _secrets_provider


def slack_webhook_url(secret_arn: str) -> str:
    """The webhook URL stored in the secret: the bare URL, or JSON ``{"webhook_url": ...}``."""
    max_age = int(os.environ.get("GREENRAIL_SLACK_SECRET_CACHE_SECONDS", "300"))
    value = _secrets().get(secret_arn, max_age=max_age)
    if isinstance(value, bytes):
        value = value.decode()
    text = str(value or "").strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("webhook_url") or "").strip()
        except (ValueError, AttributeError):
            text = ""
    if not text.lower().startswith(("https://", "http://")):
        # Never echo the value: it may be a URL with a typo, and still a secret.
        raise SlackDeliveryError(
            f"secret {secret_arn} holds no webhook URL (expected the URL or JSON with 'webhook_url')"
        )
    return text


class _RedactUrl(logging.Filter):
    """slack_sdk logs the URL in some messages (debug, and some errors): blank it out."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.url in message:
            record.msg = message.replace(self.url, REDACTED)
            record.args = None
        return True


def _slack_logger(url: str) -> logging.Logger:
    # A logger of our own with an explicit level: slack_sdk writes the URL at DEBUG, and logs
    # "retry handler found ... <url>" at INFO whenever its logger's own level is NOTSET.
    slack_logger = logging.getLogger("greenrail.notify.slack")
    slack_logger.setLevel(logging.WARNING)
    for existing in list(slack_logger.filters):
        slack_logger.removeFilter(existing)
    slack_logger.addFilter(_RedactUrl(url))
    return slack_logger


def send_slack(decision: Decision, url: str) -> None:
    """Post the Block Kit message; 429 is retried (Retry-After honoured) by slack_sdk."""
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
    from slack_sdk.webhook import WebhookClient

    webhook = WebhookClient(
        url,
        timeout=SLACK_TIMEOUT_SECONDS,
        logger=_slack_logger(url),
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=SLACK_MAX_RATE_LIMIT_RETRIES)],
    )
    try:
        response = webhook.send_dict(slack_message(decision))
    except Exception as exc:  # urllib / socket errors may carry the URL: rebuild the message
        detail = str(exc).replace(url, REDACTED)
        raise SlackDeliveryError(f"Slack webhook request failed: {type(exc).__name__}: {detail}") from None
    if response.status_code != 200:
        body = str(response.body or "")[:200].replace(url, REDACTED)
        raise SlackDeliveryError(f"Slack webhook answered HTTP {response.status_code}: {body}")


def notify(decision: Decision) -> dict[str, Any]:
    """Send ``decision`` to every configured channel; raise NotificationError if any failed.

    Returns what was done: ``{"sns": message id or None, "slack": "sent" | "skipped"}``.
    """
    global _slack_skip_logged
    result: dict[str, Any] = {"sns": None, "slack": "skipped"}
    failures: list[str] = []

    topic_arn = os.environ.get("GREENRAIL_TOPIC_ARN")
    if topic_arn:
        try:
            result["sns"] = publish_sns(decision, topic_arn)
        except Exception as exc:
            logger.exception("SNS publish failed", extra={"topic_arn": topic_arn, "error": error_code(exc)})
            failures.append(f"sns: {error_code(exc)}")
    else:
        logger.warning("GREENRAIL_TOPIC_ARN is not set: SNS notification skipped")

    secret_arn = os.environ.get("GREENRAIL_SLACK_SECRET_ARN")
    if secret_arn:
        try:
            send_slack(decision, slack_webhook_url(secret_arn))
            result["slack"] = "sent"
        except SlackDeliveryError as exc:
            logger.error("Slack notification failed", extra={"error": str(exc)})
            failures.append(f"slack: {exc}")
        except Exception as exc:  # Secrets Manager errors (Powertools GetParameterError)
            logger.error("Slack webhook secret unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
            failures.append(f"slack secret: {type(exc).__name__}")
    elif not _slack_skip_logged:
        logger.info("GREENRAIL_SLACK_SECRET_ARN is not set: Slack notifications are skipped")
        _slack_skip_logged = True

    if failures:
        raise NotificationError(f"{decision.policy} {decision.resource}: " + "; ".join(failures))
    return result
