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
def slack() -> Iterator[FakeSlack]:
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
    caplog.set_level(logging.DEBUG, logger="greenrail")
    caplog.set_level(logging.DEBUG, logger="slack_sdk")
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
    # Greenrail's and slack_sdk's loggers at DEBUG: the URL must not appear even there. (botocore
    # logs request and response bodies at DEBUG, secrets included: never run it at DEBUG.)
    caplog.set_level(logging.DEBUG, logger="greenrail")
    caplog.set_level(logging.DEBUG, logger="slack_sdk")
    if failure == "http_500":
        url = slack.url
        slack.responses.append((500, {}, "internal_error"))
    else:
        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}/services/{SECRET_TOKEN}"
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
