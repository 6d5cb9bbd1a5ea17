"""The notifier handler against moto (SNS -> SQS, Secrets Manager) and a fake Slack on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws, notify
from greenrail.decision import Decision, Mode, Savings
from tests.conftest import Context, load_function

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
SECRET_TOKEN = "T000/B000/s3cr3tT0k3nNeverLogged"


load_handler = load_function


LambdaContext = Context  # the shared Lambda context of tests/conftest.py


@dataclass
class FakeSlack:
    """Records request bodies; answers each request with the next scripted response."""

    responses: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            fake.bodies.append(json.loads(self.rfile.read(length)))
            fake.paths.append(self.path)
            status, headers, body = fake.responses.pop(0) if fake.responses else (200, {}, "ok")
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/services/{SECRET_TOKEN}"
    # The explicit opt-in for a webhook that is not https://hooks.slack.com (notify's module doc).
    monkeypatch.setenv("GREENRAIL_SLACK_ALLOWED_HOSTS", f"127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "GREENRAIL_AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "GREENRAIL_SLACK_SECRET_ARN", "GREENRAIL_TOPIC_ARN"):
        monkeypatch.delenv(key, raising=False)
    aws.reset_clients()
    notify.reset()
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="greenrail-notifications")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("GREENRAIL_TOPIC_ARN", topic_arn)
        yield {"sqs": sqs, "queue_url": queue_url, "topic_arn": topic_arn}
    aws.reset_clients()
    notify.reset()


def configure_slack(monkeypatch: pytest.MonkeyPatch, secret_string: str) -> None:
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="greenrail/slack", SecretString=secret_string
    )["ARN"]
    monkeypatch.setenv("GREENRAIL_SLACK_SECRET_ARN", arn)


def decision_event(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "policy": "storage",
        "resource": "s3://b/k",
        "account": "123456789012",
        "region": REGION,
        "action": "tag",
        "target": {"storage_class": "ONEZONE_IA"},
        "mode": Mode.DRY_RUN,
        "reason": "training data",
        "savings": Savings(usd_per_month=0.42, kgco2e_per_month=0.01),
        "event_id": "evt-1",
        "decided_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    fields.update(overrides)
    entry = Decision(**fields).to_event_entry("greenrail")
    return {
        "version": "0",
        "id": "11111111-2222-3333-4444-555555555555",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2025-01-02T03:04:05Z",
        "region": REGION,
        "resources": entry["Resources"],
        "detail": json.loads(entry["Detail"]),
    }


def received(env: dict[str, Any]) -> list[dict[str, Any]]:
    messages = (
        env["sqs"].receive_message(QueueUrl=env["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    )
    return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def handler() -> Any:
    return load_handler("notifier").handler


def test_sns_and_slack_delivered_and_429_retried(
    env: dict[str, Any],
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    handler: Any,
) -> None:
    debug_logs(caplog)
    configure_slack(monkeypatch, json.dumps({"webhook_url": slack.url}))
    slack.responses.append((429, {"Retry-After": "0"}, "rate_limited"))

    result = handler(decision_event(), LambdaContext())

    assert result["status"] == "notified"
    assert result["slack"] == "sent"
    [envelope] = received(env)
    assert envelope["Subject"] == "Greenrail [dry-run] storage: tag s3://b/k"
    assert envelope["MessageAttributes"]["policy"] == {"Type": "String", "Value": "storage"}
    assert envelope["MessageAttributes"]["action"] == {"Type": "String", "Value": "tag"}
    assert envelope["MessageAttributes"]["mode"] == {"Type": "String", "Value": "dry-run"}
    message = json.loads(envelope["Message"])
    assert message["version"] == "1.0"
    assert message["source"] == "custom"
    assert message["content"]["textType"] == "client-markdown"
    assert message["metadata"]["summary"] == (
        "[dry-run] storage: would tag s3://b/k for ONEZONE_IA — saves $0.42/month, 0.01 kgCO2e/month"
    )
    # The 429 was answered with Retry-After: 0 and retried by slack_sdk: two identical posts.
    assert len(slack.bodies) == 2
    assert slack.bodies[0] == slack.bodies[1]
    body = slack.bodies[1]
    assert body["text"].startswith("[dry-run] storage: would tag s3://b/k")
    assert [block["type"] for block in body["blocks"]] == ["header", "section", "context"]
    assert "*Savings*\n$0.42/month, 0.01 kgCO2e/month" in [f["text"] for f in body["blocks"][1]["fields"]]
    assert SECRET_TOKEN not in caplog.text + "".join(str(r.__dict__) for r in caplog.records)


def test_plain_url_secret(
    env: dict[str, Any], slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, handler: Any
) -> None:
    configure_slack(monkeypatch, slack.url)
    assert handler(decision_event(), LambdaContext())["slack"] == "sent"
    assert slack.paths == [f"/services/{SECRET_TOKEN}"]


def test_no_secret_slack_skipped(env: dict[str, Any], slack: FakeSlack, handler: Any) -> None:
    result = handler(decision_event(), LambdaContext())
    assert result["slack"] == "skipped"
    assert slack.bodies == []
    assert len(received(env)) == 1


@pytest.mark.parametrize("failure", ["http_500", "connection_refused"])
def test_slack_failure_keeps_sns_raises_and_never_reveals_url(
    env: dict[str, Any],
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    handler: Any,
    failure: str,
) -> None:
    debug_logs(caplog)
    if failure == "http_500":
        url = slack.url
        slack.responses.append((500, {}, "internal_error"))
    else:
        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}/services/{SECRET_TOKEN}"
        monkeypatch.setenv("GREENRAIL_SLACK_ALLOWED_HOSTS", f"127.0.0.1:{port}")
    configure_slack(monkeypatch, url)

    with pytest.raises(notify.NotificationError) as raised:
        handler(decision_event(), LambdaContext())

    assert "slack" in str(raised.value)
    assert len(received(env)) == 1  # the SNS message was not lost
    out = capsys.readouterr()
    logged = out.out + out.err + caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "Slack notification failed" in logged
    for text in (logged, str(raised.value), repr(raised.value)):
        assert SECRET_TOKEN not in text
        assert url not in text


def test_malformed_event_logged_counted_not_raised(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, handler: Any
) -> None:
    event = decision_event()
    del event["detail"]["policy"]
    event["detail"]["mode"] = "sometimes"

    result = handler(event, LambdaContext())

    assert result["status"] == "malformed"
    error = next(r for r in caplog.records if r.getMessage() == "malformed Greenrail Decision event")
    assert error.levelname == "ERROR"
    assert {problem["field"] for problem in error.problems} == {"policy", "mode"}  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    metrics = next(json.loads(line) for line in out.splitlines() if '"_aws"' in line)
    assert metrics["MalformedDecision"] in ([1.0], 1.0)
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Greenrail"
    assert received(env) == []


def test_detail_that_is_not_json(env: dict[str, Any], handler: Any) -> None:
    assert handler({"id": "x", "detail": "{not json"}, LambdaContext())["status"] == "malformed"
    assert handler({"id": "y"}, LambdaContext())["status"] == "malformed"


# --- where the webhook may point, and redirects ----------------------------------------------


def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Greenrail's and slack_sdk's loggers at DEBUG: what must stay secret must not appear even there.
    (botocore logs request and response bodies at DEBUG, secrets included: never run it at DEBUG.)"""
    caplog.set_level(logging.DEBUG, logger="greenrail")
    caplog.set_level(logging.DEBUG, logger="slack_sdk")


def logged_text(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    out = capsys.readouterr()
    return out.out + out.err + caplog.text + "".join(str(r.__dict__) for r in caplog.records)


def test_loopback_webhook_needs_the_explicit_opt_in(
    env: dict[str, Any],
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    handler: Any,
) -> None:
    caplog.set_level(logging.DEBUG, logger="greenrail")
    monkeypatch.delenv("GREENRAIL_SLACK_ALLOWED_HOSTS")
    configure_slack(monkeypatch, slack.url)

    with pytest.raises(notify.NotificationError) as raised:
        handler(decision_event(), LambdaContext())

    assert slack.bodies == []  # nothing was sent to 127.0.0.1
    assert len(received(env)) == 1
    logged = logged_text(capsys, caplog)
    assert "GREENRAIL_SLACK_ALLOWED_HOSTS" in logged
    for text in (logged, str(raised.value)):
        assert SECRET_TOKEN not in text
        assert "127.0.0.1" not in text


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(
    env: dict[str, Any],
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    handler: Any,
    status: int,
) -> None:
    debug_logs(caplog)
    elsewhere: list[str] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def answer(self) -> None:
            elsewhere.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = answer  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Elsewhere)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        # Even a host that is allowed is not reached through a redirect.
        slack_port = slack.url.split("/")[2]
        monkeypatch.setenv("GREENRAIL_SLACK_ALLOWED_HOSTS", f"{slack_port},127.0.0.1:{port}")
        slack.responses.append((status, {"Location": f"http://127.0.0.1:{port}/stolen"}, "moved"))
        configure_slack(monkeypatch, slack.url)

        with pytest.raises(notify.NotificationError, match=f"HTTP {status}"):
            handler(decision_event(), LambdaContext())
    finally:
        server.shutdown()
        server.server_close()

    assert elsewhere == []
    assert len(slack.bodies) == 1
    assert len(received(env)) == 1
    assert SECRET_TOKEN not in logged_text(capsys, caplog)


# --- permanent refusals: logged and counted, not retried -------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, "no_service", "HTTP 404: no_service"),
        (403, "invalid_token", "HTTP 403: invalid_token"),
        (400, "<html>a page quoting the request: training data</html>", "HTTP 400"),
    ],
)
def test_slack_4xx_is_permanent_logged_without_url_or_payload(
    env: dict[str, Any],
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    handler: Any,
    status: int,
    body: str,
    expected: str,
) -> None:
    debug_logs(caplog)
    configure_slack(monkeypatch, slack.url)
    slack.responses.append((status, {}, body))

    result = handler(decision_event(reason="a reason only the message carries"), LambdaContext())

    assert result["status"] == "notified"
    assert result["slack"] == "rejected"
    assert result["slack_error"] == expected
    assert len(slack.bodies) == 1  # not retried
    assert len(received(env)) == 1  # SNS delivered
    [record] = [r for r in caplog.records if "Slack refused" in r.getMessage()]
    assert record.status == status  # type: ignore[attr-defined]
    assert record.policy == "storage" and record.resource == "s3://b/k"  # type: ignore[attr-defined]
    logged = logged_text(capsys, caplog)
    assert SECRET_TOKEN not in logged
    assert "a reason only the message carries" not in logged
    assert "<html>" not in logged


def test_slack_429_after_the_retries_is_raised(
    env: dict[str, Any], slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, handler: Any
) -> None:
    configure_slack(monkeypatch, slack.url)
    slack.responses.extend([(429, {"Retry-After": "0"}, "rate_limited")] * 3)
    with pytest.raises(notify.NotificationError, match="HTTP 429"):
        handler(decision_event(), LambdaContext())
    assert len(slack.bodies) == 1 + notify.SLACK_MAX_RATE_LIMIT_RETRIES


def test_sns_permanent_error_is_logged_and_reported_not_raised(
    env: dict[str, Any],
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    handler: Any,
) -> None:
    caplog.set_level(logging.DEBUG, logger="greenrail")
    configure_slack(monkeypatch, slack.url)
    monkeypatch.setenv("GREENRAIL_TOPIC_ARN", env["topic_arn"] + "-deleted")  # SNS answers 404 NotFound

    result = handler(decision_event(reason="a reason only the message carries"), LambdaContext())

    assert result["status"] == "notified"
    assert result["sns"] is None
    assert result["sns_error"] == "NotFound"
    assert result["slack"] == "sent"  # the other channel still delivered
    [record] = [r for r in caplog.records if "SNS refused" in r.getMessage()]
    assert record.levelname == "ERROR" and record.exc_info is None
    assert record.error == "NotFound"  # type: ignore[attr-defined]
    assert "a reason only the message carries" not in logged_text(capsys, caplog)


def test_oversized_decision_still_fits_in_one_sns_message(
    env: dict[str, Any], slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, handler: Any
) -> None:
    configure_slack(monkeypatch, slack.url)
    event = decision_event(
        action="none",  # the summary of a "none" decision quotes the reason
        reason="r" * 1_000_000,
        resource="s3://b/" + "k" * 300_000,
        target={f"key{i}": "v" * 100 for i in range(10_000)},
        figures={f"figure{i}": i for i in range(10_000)},
    )

    result = handler(event, LambdaContext())

    assert result["status"] == "notified" and result["sns"] and result["slack"] == "sent"
    [envelope] = received(env)
    assert len(envelope["Message"].encode()) < 64 * 1024
    message = json.loads(envelope["Message"])
    assert message["metadata"]["summary"].startswith("[dry-run] storage: no action for s3://b/kkk")
    assert len(json.dumps(slack.bodies[0])) < 40_000
