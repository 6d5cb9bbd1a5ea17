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

Where the Slack message may go: only ``https://hooks.slack.com/...`` (no userinfo, no port but
443), and redirects are never followed (a 3xx answer is a delivery error). Other hosts must be
listed in ``GREENRAIL_SLACK_ALLOWED_HOSTS``: comma-separated ``host`` or ``host:port`` entries
(``[::1]:8080`` for IPv6; an entry without a port allows the scheme's default port only). A
listed host is reached over ``https``; plain ``http`` is allowed only for a listed loopback host
(``127.0.0.1``, ``localhost``, ``::1``): that is the local emulator's fake webhook
(``GREENRAIL_SLACK_ALLOWED_HOSTS=127.0.0.1:<port>``). A webhook URL that is not allowed is a
configuration error: nothing is sent, and the delivery fails (and is retried, then
dead-lettered, so the decision can be redriven once the secret is fixed).

Every field a notification carries is bounded (see the ``*_MAX`` constants), whatever the
decision's ``reason``, ``target``, ``resource`` or ``figures`` hold (``figures`` are not sent),
so the SNS message stays well under SNS's 256 KB; :func:`publish_sns` checks the size before
publishing all the same.

Failures. Both channels are always tried. A permanent refusal is logged (error code or HTTP
status, and the decision's policy and resource: never the message, the URL or the response
body), reported in :func:`notify`'s result (``sns_error`` / ``slack_error``) and not raised:
retrying cannot change the answer. Permanent means an AWS client error (4xx) that is not
throttling (:func:`greenrail.aws.is_permanent`), or an HTTP 4xx from Slack other than 408 and 429.
Anything else (throttling, 5xx, network errors, a Slack 3xx, a missing or disallowed webhook)
raises :class:`NotificationError` at the end, so the asynchronous invocation is retried (then
dead-lettered). Delivery is at least once: a retry after a Slack failure publishes the SNS
message again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError

from greenrail.aws import client, error_code, is_permanent
from greenrail.decision import Decision, Mode
from greenrail.permissions import calls
from greenrail.settings import settings
from greenrail.units import usd
from greenrail.validation import HTTP_DEFAULT_PORTS, LOOPBACK_HOSTS, split_http_url

logger = logging.getLogger(__name__)

SUBJECT_MAX = 99  # SNS Publish: ASCII, no line breaks, "less than 100 characters" (botocore model)
SLACK_HEADER_MAX = 150  # Block Kit header: plain_text, at most 150 characters
SLACK_FIELD_MAX = 2000  # Block Kit section field: at most 2,000 characters
SLACK_TEXT_MAX = 3000  # Block Kit section / context text: at most 3,000 characters
CHAT_DESCRIPTION_MAX = 3000  # kept well inside a chat message
SUMMARY_MAX = 3000  # the one-line summary (chat metadata, Slack fallback text)
NAME_MAX = 128  # policy, action, account, region, event id, severity: as they appear in a notification
RESOURCE_MAX = 2048  # an ARN is at most 2,048 characters; an S3 key 1,024 bytes
TARGET_ITEMS_MAX = 8  # target entries shown in the summary ...
TARGET_TEXT_MAX = 300  # ... in at most this many characters
LOG_FIELD_MAX = 256  # policy / resource / error details in log lines and exception messages
SNS_MESSAGE_MAX_BYTES = 262_144  # SNS: message body and attributes, 256 KB in all
SLACK_TIMEOUT_SECONDS = 10
SLACK_MAX_RATE_LIMIT_RETRIES = 2
REDACTED = "<redacted webhook url>"

SLACK_WEBHOOK_HOST = "hooks.slack.com"
ALLOWED_HOSTS_ENV = "GREENRAIL_SLACK_ALLOWED_HOSTS"
_TRANSIENT_HTTP = frozenset({408, 429})  # Slack answers that a retry may change
_SLACK_ERROR_TOKEN = re.compile(r"[a-z0-9_]{1,64}")  # Slack's error bodies: "invalid_token", "no_service"

_slack_skip_logged = False
_secrets_provider: Any = None


class NotificationError(Exception):
    """One or more channels failed; raised after every channel was tried."""


class SlackDeliveryError(Exception):
    """Slack did not accept the message. The message never contains the webhook URL."""


class SlackRejectedError(SlackDeliveryError):
    """Slack refused the message for good (HTTP 4xx other than 408/429): not worth a retry."""

    def __init__(self, status: int, slack_error: str = ""):
        self.status = status
        self.slack_error = slack_error
        super().__init__(
            f"Slack webhook answered HTTP {status}" + (f": {slack_error}" if slack_error else "")
        )


class MessageTooLarge(Exception):
    """The SNS message would exceed SNS's size limit (cannot happen with the field bounds)."""


def reset() -> None:
    """Forget the cached secret and the "Slack skipped" flag (tests)."""
    global _slack_skip_logged, _secrets_provider
    _slack_skip_logged = False
    _secrets_provider = None


# --- wording --------------------------------------------------------------------------------


def _truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis


def _clip(value: Any, limit: int = NAME_MAX) -> str:
    """``value`` as text of at most ``limit`` characters, encodable as UTF-8 (no lone surrogates)."""
    text = _truncate(str(value), limit)
    return text.encode("utf-8", "replace").decode("utf-8")


def savings_text(decision: Decision) -> str:
    """``$0.42/month, 0.01 kgCO2e/month``, or an empty string when nothing is saved."""
    savings = decision.savings
    if not savings.usd_per_month and not savings.kgco2e_per_month:
        return ""
    text = f"${usd(savings.usd_per_month)}/month, {usd(savings.kgco2e_per_month)} kgCO2e/month"
    return _clip(text, 2 * NAME_MAX)


def _target_text(decision: Decision) -> str:
    target = decision.target
    if not target:
        return ""
    if len(target) == 1:
        [(key, value)] = target.items()
        if isinstance(value, str | int | float) and value != "":
            return " for " + _clip(value, TARGET_TEXT_MAX)
    shown = ", ".join(
        f"{_clip(k, NAME_MAX)}={_clip(v, TARGET_TEXT_MAX)}"
        for k, v in itertools.islice(target.items(), TARGET_ITEMS_MAX)
    )
    if len(target) > TARGET_ITEMS_MAX:
        shown += f", … ({len(target) - TARGET_ITEMS_MAX} more)"
    return " for " + _truncate(shown, TARGET_TEXT_MAX)


def human_text(decision: Decision) -> str:
    """One line for people, e.g.
    ``[dry-run] storage: would tag s3://b/k for ONEZONE_IA — saves $0.42/month, 0.01 kgCO2e/month``.
    """
    resource = _clip(decision.resource, RESOURCE_MAX)
    verb = _clip(decision.action).replace("_", " ")
    if decision.action == "none":
        what = f"no action for {resource} ({_clip(decision.reason, SUMMARY_MAX)})"
    elif decision.applied:
        what = f"{verb} {resource}{_target_text(decision)} (applied)"
    else:
        what = f"would {verb} {resource}{_target_text(decision)}"
        if decision.mode is Mode.ENFORCE:
            what += " (not applied)"
    saved = savings_text(decision)
    text = f"[{decision.mode.value}] {_clip(decision.policy)}: {what}" + (
        f" — saves {saved}" if saved else ""
    )
    return _truncate(text, SUMMARY_MAX)


def subject(decision: Decision) -> str:
    """An SNS subject: printable ASCII, one line, at most 100 characters."""
    text = (
        f"Greenrail [{decision.mode.value}] {_clip(decision.policy, SUBJECT_MAX)}: "
        f"{_clip(decision.action, SUBJECT_MAX)} {_clip(decision.resource, SUBJECT_MAX)}"
    )
    ascii_text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return _truncate(ascii_text, SUBJECT_MAX, ellipsis="...")


def next_steps(decision: Decision) -> list[str]:
    if decision.compliant or decision.action == "none":
        return ["No action needed."]
    steps: list[str] = []
    if decision.mode is not Mode.ENFORCE:
        steps.append(
            f"Review the decision; set `{_clip(decision.policy)}.mode: enforce` in the Greenrail policy to apply it."
        )
    elif not decision.applied:
        steps.append("Not applied: check the reason (blast radius, exemption or error) and the logs.")
    steps.append("To exempt the resource, tag it `greenrail:exempt=true`.")
    return steps


def thread_id(decision: Decision) -> str:
    """Decisions about the same resource and policy share a chat thread."""
    digest = hashlib.sha256(decision.resource.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"greenrail-{_clip(decision.policy)}-{digest}"


def chat_notification(decision: Decision) -> dict[str, Any]:
    """The Amazon Q Developer in chat applications custom-notification document.

    Every string in it is bounded (a few tens of KB at most, whatever the decision holds).
    """
    policy, action = _clip(decision.policy), _clip(decision.action)
    resource = _clip(decision.resource, RESOURCE_MAX)
    saved = savings_text(decision) or "none estimated"
    description = "\n".join(
        [
            f"*Resource:* `{resource}`",
            f"*Action:* {action} ({'applied' if decision.applied else 'not applied'})",
            f"*Mode:* {decision.mode.value}",
            f"*Savings:* {saved}",
            f"*Reason:* {_clip(decision.reason, CHAT_DESCRIPTION_MAX)}",
        ]
    )
    context = {
        "policy": policy,
        "action": action,
        "mode": decision.mode.value,
        "applied": str(decision.applied).lower(),
        "compliant": str(decision.compliant).lower(),
        "account": _clip(decision.account),
        "region": _clip(decision.region),
        "usdPerMonth": _clip(f"{decision.savings.usd_per_month:.4f}"),
        "kgco2ePerMonth": _clip(f"{decision.savings.kgco2e_per_month:.4f}"),
        "decidedAt": decision.decided_at.isoformat(),
    }
    if decision.event_id:
        context["eventId"] = _clip(decision.event_id)
    message: dict[str, Any] = {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": _truncate(f":seedling: Greenrail {policy}: {action}", 250),
            "description": _truncate(description, CHAT_DESCRIPTION_MAX),
            "nextSteps": next_steps(decision),
            "keywords": [policy, decision.mode.value, action],
        },
        "metadata": {
            "threadId": thread_id(decision),
            "summary": human_text(decision),
            "eventType": "GreenrailDecision",
            "relatedResources": [resource],
            "additionalContext": context,
        },
    }
    if decision.event_id:
        message["id"] = _clip(decision.event_id)
    return message


def slack_message(decision: Decision) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` (fallback and notifications) plus Block Kit blocks."""

    def field(label: str, value: str) -> dict[str, str]:
        return {
            "type": "mrkdwn",
            "text": _truncate(f"*{label}*\n{_clip(value, SLACK_FIELD_MAX)}", SLACK_FIELD_MAX),
        }

    policy, action = _clip(decision.policy), _clip(decision.action)
    text = human_text(decision)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _truncate(f"Greenrail {policy}: {action}", SLACK_HEADER_MAX),
            },
        },
        {
            "type": "section",
            "fields": [
                field("Policy", policy),
                field("Resource", f"`{_clip(decision.resource, RESOURCE_MAX)}`"),
                field("Action", action),
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
                        f"account {_clip(decision.account)} · {_clip(decision.region)} · "
                        f"{decision.decided_at.isoformat()}"
                        + (f" · event {_clip(decision.event_id)}" if decision.event_id else ""),
                        SLACK_TEXT_MAX,
                    ),
                }
            ],
        },
    ]
    return {"text": _truncate(text, SLACK_TEXT_MAX), "blocks": blocks}


# --- what is sent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One notification, whatever it tells (a decision, or a digest of many: greenrail.digest)."""

    subject: str
    chat: dict[str, Any]  # the Amazon Q Developer custom notification
    attributes: dict[str, dict[str, str]]  # SNS message attributes
    slack: dict[str, Any]  # the incoming-webhook body
    policy: str  # for log lines
    resource: str
    slack_secret_arn: str | None = None  # an owner's webhook; None: GREENRAIL_SLACK_SECRET_ARN


def outgoing(item: Decision | Outgoing) -> Outgoing:
    if isinstance(item, Outgoing):
        return item
    return Outgoing(subject=subject(item), chat=chat_notification(item), attributes=sns_attributes(item),
                    slack=slack_message(item), policy=item.policy, resource=item.resource)


# --- delivery: SNS ----------------------------------------------------------------------------


def sns_attributes(decision: Decision) -> dict[str, dict[str, str]]:
    def attribute(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": _clip(value) or "-"}

    return {
        "policy": attribute(decision.policy),
        "action": attribute(decision.action),
        "mode": attribute(decision.mode.value),
        "applied": attribute(str(decision.applied).lower()),
        "severity": attribute(decision.severity.upper()),
    }


def sns_message_size(message: str, attributes: dict[str, dict[str, str]]) -> int:
    """Bytes SNS counts against its limit: the body plus each attribute's name, type and value."""
    return len(message.encode()) + sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes.items()
    )


@calls("sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", central=True)  # the topic has a customer managed key
def publish_sns(item: Decision | Outgoing, topic_arn: str) -> str:
    """Publish the chat notification; returns the SNS message id."""
    sent = outgoing(item)
    message = json.dumps(sent.chat, ensure_ascii=False)
    attributes = sent.attributes
    size = sns_message_size(message, attributes)
    if size > SNS_MESSAGE_MAX_BYTES:  # the field bounds make this unreachable; never send it anyway
        raise MessageTooLarge(f"SNS message of {size} bytes exceeds {SNS_MESSAGE_MAX_BYTES}")
    response = client("sns").publish(
        TopicArn=topic_arn,
        Subject=sent.subject,
        Message=message,
        MessageAttributes=attributes,
    )
    return str(response["MessageId"])


def _permanent_sns_error(exc: BaseException) -> bool:
    """SNS refused the request for good: an AWS 4xx that is not throttling, or a message too large."""
    if isinstance(exc, MessageTooLarge):
        return True
    return isinstance(getattr(exc, "response", None), dict) and is_permanent(exc)


# --- delivery: Slack --------------------------------------------------------------------------


def _secrets() -> Any:
    global _secrets_provider
    if _secrets_provider is None:
        from aws_lambda_powertools.utilities import parameters

        _secrets_provider = parameters.SecretsProvider(boto3_client=client("secretsmanager"))
    return _secrets_provider


@calls("secretsmanager:GetSecretValue", central=True)
def slack_webhook_url(secret_arn: str) -> str:
    """The webhook URL stored in the secret: the bare URL, or JSON ``{"webhook_url": ...}``.

    Where it points is checked by :func:`check_webhook_url` before anything is sent.
    """
    max_age = settings().slack_secret_cache_seconds
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


def _parse_host_entry(entry: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address -> (host, port)."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ("" if not rest else None)
    elif entry.count(":") > 1:  # a bare IPv6 address: no port
        host, port_text = entry, ""
    else:
        host, _, port_text = entry.partition(":")
    if not host or port_text is None or any(ch in host for ch in "/@?#\\ "):
        return None
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


def allowed_extra_hosts() -> set[tuple[str, int | None]]:
    """The ``GREENRAIL_SLACK_ALLOWED_HOSTS`` entries, as (lower-case host, port or None)."""
    allowed: set[tuple[str, int | None]] = set()
    for entry in (settings().slack_allowed_hosts or "").split(","):
        if not entry.strip():
            continue
        parsed = _parse_host_entry(entry)
        if parsed is None:
            logger.warning("ignoring a malformed %s entry", ALLOWED_HOSTS_ENV, extra={"entry": entry[:100]})
        else:
            allowed.add(parsed)
    return allowed


def check_webhook_url(url: str) -> None:
    """Raise SlackDeliveryError unless ``url`` may receive the message (see the module doc).

    The error never contains the URL or any part of it.
    """

    def refuse(why: str) -> SlackDeliveryError:
        return SlackDeliveryError(f"Slack webhook URL refused: {why}")

    try:
        parts = split_http_url(url)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    scheme, host, port = parts.scheme.lower(), (parts.hostname or ""), parts.port
    if not parts.path.startswith("/"):
        raise refuse("it has no path")
    # urllib (which sends the request) must see the same host as the check did.
    if urllib.request.Request(url).host.lower() != parts.netloc.lower():
        raise refuse("it is ambiguous")
    effective_port = port if port is not None else HTTP_DEFAULT_PORTS[scheme]
    if scheme == "https" and host == SLACK_WEBHOOK_HOST and effective_port == 443:
        return
    allowed = allowed_extra_hosts()
    listed = (host, effective_port) in allowed or (
        (host, None) in allowed and effective_port == HTTP_DEFAULT_PORTS[scheme]
    )
    if not listed:
        raise refuse(f"only https://{SLACK_WEBHOOK_HOST}/ and the hosts in {ALLOWED_HOSTS_ENV} are allowed")
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise refuse(f"plain http is allowed only for a loopback host listed in {ALLOWED_HOSTS_ENV}")


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


_webhook_client_class: Any = None


def _no_redirect_webhook_client() -> Any:
    """slack_sdk's WebhookClient, sending through an opener that never follows a redirect.

    slack_sdk posts with ``urllib.request.urlopen``, whose default opener follows 301/302/303
    (as a GET, to any host). The subclass replaces the one method that opens the connection;
    a 3xx then comes back as the response (an HTTPError slack_sdk turns into a WebhookResponse).
    """
    global _webhook_client_class
    if _webhook_client_class is not None:
        return _webhook_client_class

    from slack_sdk.webhook import WebhookClient, WebhookResponse

    if not callable(getattr(WebhookClient, "_perform_http_request_internal", None)):
        # Fail closed: without the override, redirects would be followed again.
        raise SlackDeliveryError("this slack_sdk version cannot be made to refuse redirects")

    class RefuseRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
            raise HTTPError(req.full_url, code, msg, headers, fp)

    class NoRedirectWebhookClient(WebhookClient):  # type: ignore[misc]
        def _perform_http_request_internal(self, url: str, req: urllib.request.Request) -> WebhookResponse:
            handlers: list[urllib.request.BaseHandler] = [
                RefuseRedirects(),
                urllib.request.HTTPSHandler(context=self.ssl),
            ]
            if self.proxy:  # as slack_sdk does: an explicit proxy, or HTTPS_PROXY / HTTP_PROXY
                handlers.append(urllib.request.ProxyHandler({"http": self.proxy, "https": self.proxy}))
            opener = urllib.request.build_opener(*handlers)
            with opener.open(req, timeout=self.timeout) as http_resp:
                charset = http_resp.headers.get_content_charset() or "utf-8"
                body = http_resp.read().decode(charset)
                return WebhookResponse(
                    url=url, status_code=http_resp.status, body=body, headers=http_resp.headers
                )

    _webhook_client_class = NoRedirectWebhookClient
    return _webhook_client_class


def _slack_error_token(body: Any) -> str:
    """Slack's short error code (``invalid_token``, ``no_service``...), or "" for anything else."""
    text = str(body or "").strip()
    return text if _SLACK_ERROR_TOKEN.fullmatch(text) else ""


def send_slack(item: Decision | Outgoing, url: str) -> None:
    """Post the Block Kit message; 429 is retried (Retry-After honoured) by slack_sdk.

    Raises SlackRejectedError for a permanent refusal (4xx but 408/429), SlackDeliveryError for
    anything else that is not a 200 (a refused URL, a redirect, 429 after the retries, 5xx,
    network errors).
    """
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    check_webhook_url(url)
    webhook = _no_redirect_webhook_client()(
        url,
        timeout=SLACK_TIMEOUT_SECONDS,
        logger=_slack_logger(url),
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=SLACK_MAX_RATE_LIMIT_RETRIES)],
    )
    try:
        response = webhook.send_dict(outgoing(item).slack)
    except Exception as exc:  # urllib / socket errors may carry the URL: rebuild the message
        detail = _truncate(str(exc).replace(url, REDACTED), LOG_FIELD_MAX)
        raise SlackDeliveryError(f"Slack webhook request failed: {type(exc).__name__}: {detail}") from None
    status = int(response.status_code)
    if status == 200:
        return
    slack_error = _slack_error_token(response.body)
    if 400 <= status < 500 and status not in _TRANSIENT_HTTP:
        raise SlackRejectedError(status, slack_error)
    if 300 <= status < 400:
        raise SlackDeliveryError(f"Slack webhook answered HTTP {status}: redirects are not followed")
    raise SlackDeliveryError(
        f"Slack webhook answered HTTP {status}" + (f": {slack_error}" if slack_error else "")
    )


# --- both -------------------------------------------------------------------------------------


def notify(item: Decision | Outgoing) -> dict[str, Any]:
    """Send a decision (or a digest) to every configured channel; raise NotificationError if any failed.

    Returns what was done: ``{"sns": message id or None, "slack": "sent" | "skipped" | "rejected"}``,
    plus ``"sns_error": <AWS error code>`` when SNS refused the message for good and
    ``"slack_error": "HTTP <status>[: <slack error>]"`` when Slack did (neither is raised).
    """
    global _slack_skip_logged
    result: dict[str, Any] = {"sns": None, "slack": "skipped"}
    failures: list[str] = []
    message = outgoing(item)
    about = {
        "policy": _clip(message.policy, LOG_FIELD_MAX),
        "resource": _clip(message.resource, LOG_FIELD_MAX),
    }

    topic_arn = settings().topic_arn
    if topic_arn:
        try:
            result["sns"] = publish_sns(message, topic_arn)
        except Exception as exc:
            code = _clip(error_code(exc))
            if _permanent_sns_error(exc):
                # No exception text, no traceback: they may quote the message. Not retried.
                logger.error(
                    "SNS refused the notification (permanent, not retried)", extra={"error": code, **about}
                )
                result["sns_error"] = code
            else:
                logger.exception("SNS publish failed", extra={"topic_arn": topic_arn, "error": code})
                failures.append(f"sns: {code}")
    else:
        logger.warning("GREENRAIL_TOPIC_ARN is not set: SNS notification skipped")

    secret_arn = message.slack_secret_arn or settings().slack_secret_arn
    if secret_arn:
        try:
            send_slack(message, slack_webhook_url(secret_arn))
            result["slack"] = "sent"
        except SlackRejectedError as exc:
            logger.error(
                "Slack refused the notification (permanent, not retried)",
                extra={"error": str(exc), "status": exc.status, **about},
            )
            result["slack"] = "rejected"
            result["slack_error"] = _clip(
                f"HTTP {exc.status}" + (f": {exc.slack_error}" if exc.slack_error else "")
            )
        except SlackDeliveryError as exc:
            logger.error("Slack notification failed", extra={"error": str(exc)})
            failures.append(f"slack: {exc}")
        except Exception as exc:  # Secrets Manager errors (Powertools GetParameterError)
            detail = _clip(f"{type(exc).__name__}: {exc}", LOG_FIELD_MAX)
            logger.error("Slack webhook secret unavailable", extra={"error": detail})
            failures.append(f"slack secret: {type(exc).__name__}")
    elif not _slack_skip_logged:
        logger.info("GREENRAIL_SLACK_SECRET_ARN is not set: Slack notifications are skipped")
        _slack_skip_logged = True

    if failures:
        raise NotificationError(f"{about['policy']} {about['resource']}: " + "; ".join(failures))
    return result
