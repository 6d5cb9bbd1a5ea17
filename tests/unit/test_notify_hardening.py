"""Where the Slack message may go, how big a notification can get, and which errors are permanent
(no AWS, no network)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from greenrail import notify
from greenrail.decision import Decision, Mode, Savings
from tests.unit.test_notify import decision, unchecked  # one builder for both files

TOKEN = "T000/B000/s3cr3tT0k3n"
MB = 1_000_000


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    notify.reset()
    monkeypatch.delenv(notify.ALLOWED_HOSTS_ENV, raising=False)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "".join(str(r.__dict__) for r in caplog.records)


# --- the webhook URL ---------------------------------------------------------------------------


class TestWebhookUrl:
    @pytest.mark.parametrize(
        "url",
        [
            f"https://hooks.slack.com/services/{TOKEN}",
            f"https://hooks.slack.com:443/services/{TOKEN}",
            f"HTTPS://HOOKS.SLACK.COM/services/{TOKEN}",
        ],
    )
    def test_slack_is_allowed(self, url: str) -> None:
        notify.check_webhook_url(url)

    @pytest.mark.parametrize(
        "url",
        [
            f"http://hooks.slack.com/services/{TOKEN}",  # not https
            f"https://hooks.slack.com:8443/services/{TOKEN}",  # another port
            f"https://hooks.slack.com.evil.example/services/{TOKEN}",
            f"https://evil.example/hooks.slack.com/services/{TOKEN}",
            f"https://user:pw@hooks.slack.com/services/{TOKEN}",  # userinfo
            f"https://hooks.slack.com@evil.example/services/{TOKEN}",
            f"https://hooks.slack.com\\@evil.example/services/{TOKEN}",
            f"https://evil.example#@hooks.slack.com/services/{TOKEN}",
            f"https://evil.example?@hooks.slack.com/services/{TOKEN}",
            f"https://hooks.slack.com./services/{TOKEN}",
            f"https://hooks.slack.com /services/{TOKEN}",
            f"https://hooks.slack.com:99999/services/{TOKEN}",
            f"https://hooks.slack.com:x/services/{TOKEN}",
            "https://hooks.slack.com",  # no path
            f"ftp://hooks.slack.com/services/{TOKEN}",
            f"http://127.0.0.1:8080/services/{TOKEN}",  # loopback, but not opted in
            f"http://169.254.169.254/latest/meta-data/{TOKEN}",
            f"https://[::1]/services/{TOKEN}",
        ],
    )
    def test_anything_else_is_refused_without_echoing_it(self, url: str) -> None:
        with pytest.raises(notify.SlackDeliveryError) as raised:
            notify.check_webhook_url(url)
        assert "s3cr3t" not in str(raised.value)
        assert "evil" not in str(raised.value)
        assert str(raised.value).startswith("Slack webhook URL refused")

    @pytest.mark.parametrize(
        ("allowed", "url", "ok"),
        [
            ("127.0.0.1:8080", "http://127.0.0.1:8080/services/x", True),
            ("127.0.0.1:8080", "http://127.0.0.1:8081/services/x", False),
            ("127.0.0.1:8080", "http://127.0.0.1/services/x", False),
            ("127.0.0.1", "http://127.0.0.1/services/x", True),  # no port: the default port only
            ("127.0.0.1", "http://127.0.0.1:8080/services/x", False),
            (" localhost:9000 , 127.0.0.1:1 ", "http://LOCALHOST:9000/x", True),
            ("[::1]:9000", "http://[::1]:9000/x", True),
            ("::1", "http://[::1]/x", True),
            ("::1", "http://[::1]:9000/x", False),
            ("chat.example.com:8443", "https://chat.example.com:8443/x", True),
            ("chat.example.com:8443", "http://chat.example.com:8443/x", False),  # http: loopback only
            ("chat.example.com", "https://chat.example.com/x", True),
            ("chat.example.com:443", "https://chat.example.com/x", True),
            ("chat.example.com:443", "https://chat.example.com:8443/x", False),
            ("10.0.0.1:80", "http://10.0.0.1/x", False),  # http: loopback only
            ("127.0.0.1:8080", "http://user@127.0.0.1:8080/x", False),
            ("127.0.0.1:notaport,127.0.0.1:0,a@b,", "http://127.0.0.1:8080/x", False),  # malformed: ignored
        ],
    )
    def test_the_allowed_hosts_opt_in(
        self, monkeypatch: pytest.MonkeyPatch, allowed: str, url: str, ok: bool
    ) -> None:
        monkeypatch.setenv(notify.ALLOWED_HOSTS_ENV, allowed)
        if ok:
            notify.check_webhook_url(url)
        else:
            with pytest.raises(notify.SlackDeliveryError):
                notify.check_webhook_url(url)

    def test_slack_stays_allowed_with_the_opt_in(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(notify.ALLOWED_HOSTS_ENV, "127.0.0.1:8080")
        notify.check_webhook_url(f"https://hooks.slack.com/services/{TOKEN}")

    def test_nothing_is_sent_to_a_refused_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def no_client() -> Any:
            raise AssertionError("a client was built for a refused URL")

        monkeypatch.setattr(notify, "_no_redirect_webhook_client", no_client)
        with pytest.raises(notify.SlackDeliveryError, match="refused"):
            notify.send_slack(decision(), f"http://127.0.0.1:8080/services/{TOKEN}")

    def test_the_client_refuses_redirects(self) -> None:
        from slack_sdk.webhook import WebhookClient

        cls = notify._no_redirect_webhook_client()
        assert issubclass(cls, WebhookClient)
        assert cls._perform_http_request_internal is not WebhookClient._perform_http_request_internal


# --- Slack answers ------------------------------------------------------------------------------


def fake_webhook(monkeypatch: pytest.MonkeyPatch, status: int, body: str = "") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    class FakeClient:
        def __init__(self, url: str, **kwargs: Any) -> None:
            self.url = url

        def send_dict(self, payload: dict[str, Any]) -> Any:
            sent.append(payload)
            return SimpleNamespace(status_code=status, body=body)

    monkeypatch.setattr(notify, "_no_redirect_webhook_client", lambda: FakeClient)
    return sent


SLACK_URL = f"https://hooks.slack.com/services/{TOKEN}"


class TestSlackAnswers:
    @pytest.mark.parametrize(
        ("status", "body", "slack_error"),
        [
            (400, "invalid_payload", "invalid_payload"),
            (403, "invalid_token", "invalid_token"),
            (404, "no_service", "no_service"),
            (410, "channel_is_archived", "channel_is_archived"),
            (400, "<html>quoting the request</html>", ""),  # not a Slack error code: not repeated
            (400, "x" * 500, ""),
        ],
    )
    def test_4xx_is_permanent(
        self, monkeypatch: pytest.MonkeyPatch, status: int, body: str, slack_error: str
    ) -> None:
        fake_webhook(monkeypatch, status, body)
        with pytest.raises(notify.SlackRejectedError) as raised:
            notify.send_slack(decision(), SLACK_URL)
        assert raised.value.status == status
        assert raised.value.slack_error == slack_error
        assert "quoting" not in str(raised.value)

    @pytest.mark.parametrize("status", [301, 302, 307, 408, 429, 500, 502, 503])
    def test_everything_else_is_a_delivery_error_to_retry(
        self, monkeypatch: pytest.MonkeyPatch, status: int
    ) -> None:
        fake_webhook(monkeypatch, status, "<html>quoting the request</html>")
        with pytest.raises(notify.SlackDeliveryError) as raised:
            notify.send_slack(decision(), SLACK_URL)
        assert not isinstance(raised.value, notify.SlackRejectedError)
        assert f"HTTP {status}" in str(raised.value)
        assert "quoting" not in str(raised.value)

    def test_notify_reports_a_rejection_and_does_not_raise(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="greenrail")
        monkeypatch.delenv("GREENRAIL_TOPIC_ARN", raising=False)
        monkeypatch.setenv("GREENRAIL_SLACK_SECRET_ARN", "arn:secret")
        monkeypatch.setattr(notify, "slack_webhook_url", lambda arn: SLACK_URL)
        sent = fake_webhook(monkeypatch, 404, "no_service")

        result = notify.notify(decision(reason="only-in-the-payload"))

        assert result == {"sns": None, "slack": "rejected", "slack_error": "HTTP 404: no_service"}
        assert len(sent) == 1
        [record] = [r for r in caplog.records if "Slack refused" in r.getMessage()]
        assert record.levelname == "ERROR"
        assert record.status == 404  # type: ignore[attr-defined]
        assert (record.policy, record.resource) == ("storage", "s3://b/k")  # type: ignore[attr-defined]
        assert "s3cr3t" not in logged(caplog)
        assert "only-in-the-payload" not in logged(caplog)

    def test_notify_raises_on_a_5xx(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("GREENRAIL_TOPIC_ARN", raising=False)
        monkeypatch.setenv("GREENRAIL_SLACK_SECRET_ARN", "arn:secret")
        monkeypatch.setattr(notify, "slack_webhook_url", lambda arn: SLACK_URL)
        fake_webhook(monkeypatch, 503, "")
        with pytest.raises(notify.NotificationError, match="HTTP 503"):
            notify.notify(decision())


# --- SNS errors -------------------------------------------------------------------------------


def client_error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Publish",
    )


class FakeSns:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"MessageId": "m-1"}


@pytest.fixture
def sns(monkeypatch: pytest.MonkeyPatch) -> FakeSns:
    fake = FakeSns()
    monkeypatch.setattr(notify, "client", lambda service: fake)
    monkeypatch.setenv("GREENRAIL_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t")
    monkeypatch.delenv("GREENRAIL_SLACK_SECRET_ARN", raising=False)
    return fake


class TestSnsErrors:
    @pytest.mark.parametrize(
        ("code", "status"),
        [
            ("InvalidParameter", 400),
            ("InvalidParameterValue", 400),
            ("AuthorizationError", 403),
            ("NotFound", 404),
        ],
    )
    def test_permanent_error_is_logged_reported_and_not_raised(
        self, sns: FakeSns, caplog: pytest.LogCaptureFixture, code: str, status: int
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="greenrail")
        payload_marker = "only-in-the-payload"
        sns.error = client_error(code, status, f"Invalid parameter: Message {payload_marker}")

        result = notify.notify(decision(reason=payload_marker))

        assert result == {"sns": None, "sns_error": code, "slack": "skipped"}
        assert len(sns.calls) == 1
        [record] = [r for r in caplog.records if "SNS refused" in r.getMessage()]
        assert record.levelname == "ERROR" and record.exc_info is None
        assert record.error == code  # type: ignore[attr-defined]
        assert (record.policy, record.resource) == ("storage", "s3://b/k")  # type: ignore[attr-defined]
        assert payload_marker not in logged(caplog)

    @pytest.mark.parametrize(
        ("code", "status"),
        [
            ("Throttling", 400),
            ("ThrottlingException", 400),
            ("InternalError", 500),
            ("ServiceUnavailable", 503),
        ],
    )
    def test_throttling_and_5xx_raise_for_a_retry(self, sns: FakeSns, code: str, status: int) -> None:
        sns.error = client_error(code, status)
        with pytest.raises(notify.NotificationError, match=f"sns: {code}"):
            notify.notify(decision())

    def test_network_errors_raise(self, sns: FakeSns) -> None:
        from botocore.exceptions import EndpointConnectionError

        sns.error = EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com")
        with pytest.raises(notify.NotificationError, match="EndpointConnectionError"):
            notify.notify(decision())

    def test_an_oversized_message_is_never_sent(self, sns: FakeSns, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(notify, "chat_notification", lambda d: {"description": "x" * 300_000})
        result = notify.notify(decision())
        assert result["sns"] is None and result["sns_error"] == "MessageTooLarge"
        assert sns.calls == []

    def test_the_error_message_stays_short(self, sns: FakeSns) -> None:
        sns.error = client_error("Throttling", 400)
        with pytest.raises(notify.NotificationError) as raised:
            notify.notify(decision(resource="s3://b/" + "k" * MB))
        assert len(str(raised.value)) < 1000


# --- bounds -----------------------------------------------------------------------------------

HOSTILE = {
    # characters that grow the most in JSON and UTF-8: control characters (\u00XX), emoji, and
    # a lone surrogate that strict UTF-8 cannot encode
    "reason": ("\x01😀\ud800" * (MB // 3)),
    "resource": "s3://b/" + "\x01" * MB,
    "target": {f"key{i}\x01": "v\x01" * 1000 for i in range(10_000)},
    "figures": {f"figure{i}": "\x01" * 100 for i in range(10_000)},
    "account": "1" * MB,
    "region": "r" * MB,
    "event_id": "\x01" * MB,
    "severity": "s" * MB,
    "savings": Savings(usd_per_month=1e308, kgco2e_per_month=-1e308),
}


@pytest.mark.parametrize(
    "hostile",
    [
        decision(**HOSTILE),
        decision(**{**HOSTILE, "action": "none"}),  # the summary of a "none" decision quotes the reason
        decision(**{**HOSTILE, "mode": Mode.ENFORCE, "applied": True}),
        unchecked(**HOSTILE, policy="p\x01" * MB, action="a😀" * MB),
        unchecked(**HOSTILE, policy="p" * MB, action="none", compliant=True),
    ],
    ids=["dry-run", "none", "applied", "any-policy-and-action", "compliant"],
)
def test_every_notification_is_bounded_whatever_the_decision_holds(hostile: Decision, sns: FakeSns) -> None:
    assert notify.notify(hostile)["sns"] == "m-1"
    [call] = sns.calls
    size = notify.sns_message_size(call["Message"], call["MessageAttributes"])
    assert size < 100_000 < notify.SNS_MESSAGE_MAX_BYTES
    assert len(call["Subject"]) <= notify.SUBJECT_MAX and call["Subject"].isascii()
    message = json.loads(call["Message"])
    assert "figure1" not in call["Message"]  # figures are not sent at all
    assert len(message["metadata"]["summary"]) <= notify.SUMMARY_MAX
    assert all(len(v) <= notify.NAME_MAX for v in message["metadata"]["additionalContext"].values())
    call["Message"].encode()  # strict UTF-8: no lone surrogate left

    slack = notify.slack_message(hostile)
    assert len(json.dumps(slack).encode()) < 100_000
    assert len(slack["text"]) <= notify.SLACK_TEXT_MAX
    assert all(len(f["text"]) <= notify.SLACK_FIELD_MAX for f in slack["blocks"][1]["fields"])


def test_a_large_target_is_summarised() -> None:
    text = notify.human_text(decision(target={f"k{i}": i for i in range(10_000)}))
    assert "k0=0, k1=1" in text
    assert "(9992 more)" in text
    assert len(text) < 500


def test_single_target_value_still_reads_naturally() -> None:
    assert notify.human_text(decision()).startswith("[dry-run] storage: would tag s3://b/k for ONEZONE_IA — ")
