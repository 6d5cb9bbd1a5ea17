"""Digests instead of floods: the notifier holds decisions, the digest function sends one message
per policy and bucket (or account) per window, against moto (DynamoDB, SNS -> SQS, Secrets
Manager) and a fake Slack webhook on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws, digest, notify
from greenrail.config import NotificationsConfig, OwnerRoute
from greenrail.decision import Decision, Mode, Savings
from tests.conftest import Context, load_function

REGION = "us-east-1"
ACCOUNT = "123456789012"
NOW = datetime(2026, 3, 4, 10, 7, tzinfo=UTC)


def decision(resource: str = "arn:aws:s3:::ml-data/train/a.csv", policy: str = "storage",
             mode: Mode = Mode.DRY_RUN, usd: float = 1.0, **fields: Any) -> Decision:
    values: dict[str, Any] = dict(policy=policy, resource=resource, account=ACCOUNT, region=REGION,
                                  action="tag", mode=mode, reason="training data",
                                  savings=Savings(usd_per_month=usd, kgco2e_per_month=usd / 100),
                                  decided_at=NOW)
    values.update(fields)
    return Decision(**values)


# ---------------------------------------------------------------- the rules, no AWS
class TestWindows:
    config = NotificationsConfig()

    def test_enforce_waits_for_the_aligned_window(self) -> None:
        window = digest.window_for(decision(mode=Mode.ENFORCE), self.config, NOW)
        assert window == digest.Window("window", int(datetime(2026, 3, 4, 10, 15, tzinfo=UTC).timestamp()))

    @pytest.mark.parametrize(("now", "due"), [
        (datetime(2026, 3, 4, 7, 59, tzinfo=UTC), datetime(2026, 3, 4, 8, 0, tzinfo=UTC)),
        (datetime(2026, 3, 4, 8, 0, tzinfo=UTC), datetime(2026, 3, 5, 8, 0, tzinfo=UTC)),  # at the hour: tomorrow
        (datetime(2026, 3, 4, 23, 59, tzinfo=UTC), datetime(2026, 3, 5, 8, 0, tzinfo=UTC)),
    ])
    def test_dry_run_waits_for_the_daily_digest(self, now: datetime, due: datetime) -> None:
        assert digest.window_for(decision(), self.config, now) == digest.Window("daily", int(due.timestamp()))

    def test_sent_at_once(self) -> None:
        assert digest.window_for(decision(severity="CRITICAL"), self.config, NOW) is None
        assert digest.window_for(decision(), NotificationsConfig(dry_run="each"), NOW) is None
        assert digest.window_for(decision(mode=Mode.ENFORCE), NotificationsConfig(window_minutes=0), NOW) is None

    def test_dry_run_may_use_the_enforce_window(self) -> None:
        window = digest.window_for(decision(), NotificationsConfig(dry_run="window", window_minutes=60), NOW)
        assert window == digest.Window("window", int(datetime(2026, 3, 4, 11, 0, tzinfo=UTC).timestamp()))

    def test_groups(self) -> None:
        config = NotificationsConfig(owners={"team-a": OwnerRoute(sns_attribute="team-a")})
        assert digest.Group.of(decision(), config).scope == "bucket ml-data"
        job = decision("arn:aws:sagemaker:us-east-1:123456789012:training-job/j", policy="training")
        assert digest.Group.of(job, config).scope == f"account {ACCOUNT}"
        assert digest.Group.of(decision(owner="team-a"), config).owner == "team-a"
        assert digest.Group.of(decision(owner="nobody-mapped"), config).owner is None

    def test_a_bad_owner_secret_is_a_policy_error(self) -> None:
        with pytest.raises(ValueError, match="slack_secret_arn"):
            OwnerRoute(slack_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password")


# ---------------------------------------------------------------- against moto
@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    for key, value in {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "GREENRAIL_AWS_MAX_ATTEMPTS": "1",
                       "GREENRAIL_ACCOUNT_ID": ACCOUNT}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "GREENRAIL_SLACK_SECRET_ARN", "GREENRAIL_POLICY_PARAMETER"):
        monkeypatch.delenv(key, raising=False)
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\n")
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(policy))
    aws.reset_clients()
    notify.reset()
    digest._indexed.clear()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(TableName="digests", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}])
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="greenrail")["TopicArn"]
        queue = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})
        monkeypatch.setenv("GREENRAIL_TOPIC_ARN", topic)
        monkeypatch.setenv("GREENRAIL_DIGEST_TABLE", "digests")

        def messages() -> list[dict[str, Any]]:
            found = []
            while True:
                got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                          MessageAttributeNames=["All"]).get("Messages", [])
                if not got:
                    return found
                for m in got:
                    found.append({"body": json.loads(m["Body"]),
                                  "attributes": {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}})
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

        yield {"messages": messages, "policy": policy}
    aws.reset_clients()
    notify.reset()


def hold_all(decisions: list[Decision], config: NotificationsConfig, now: datetime = NOW) -> None:
    for d in decisions:
        assert digest.notify_or_hold(d, config, now)["status"] == "held"


def test_a_sweep_becomes_one_digest_per_bucket(world: dict[str, Any]) -> None:
    config = NotificationsConfig()
    first = [decision(f"arn:aws:s3:::ml-data/train/{i}.csv", usd=float(i)) for i in range(40)]
    second = [decision(f"arn:aws:s3:::ml-test/{i}.csv", usd=0.5) for i in range(3)]
    hold_all(first + second, config)
    assert world["messages"]() == []  # held, nothing sent

    assert digest.flush(config, "digests", NOW).sent == []  # the daily digest is not due yet
    due = datetime(2026, 3, 5, 8, 0, tzinfo=UTC) + timedelta(seconds=digest.GRACE_SECONDS)
    sent = digest.flush(config, "digests", due).sent
    assert sorted((d.group.scope, d.decisions) for d in sent) == [("bucket ml-data", 40), ("bucket ml-test", 3)]

    messages = world["messages"]()
    assert len(messages) == 2
    by_scope = {m["body"]["metadata"]["additionalContext"]["scope"]: m for m in messages}
    data = by_scope["bucket ml-data"]
    context = data["body"]["metadata"]["additionalContext"]
    assert context["decisions"] == "40" and context["usdPerMonth"] == f"{sum(range(40)):.4f}"
    assert data["attributes"]["kind"] == "digest" and data["attributes"]["mode"] == "dry-run"
    # the five biggest savings first
    assert data["body"]["metadata"]["relatedResources"] == [f"arn:aws:s3:::ml-data/train/{i}.csv"
                                                            for i in (39, 38, 37, 36, 35)]
    assert digest.flush(config, "digests", due + timedelta(days=1)).sent == []  # each digest once
    assert world["messages"]() == []


def test_a_retried_notifier_counts_a_decision_once(world: dict[str, Any]) -> None:
    config = NotificationsConfig()
    same = decision()
    hold_all([same, same, same], config)
    [sent] = digest.flush(config, "digests", None).sent
    assert sent.decisions == 1


def test_enforce_window_totals(world: dict[str, Any]) -> None:
    config = NotificationsConfig()
    jobs = [decision(f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/j{i}", policy="training",
                     mode=Mode.ENFORCE, action="stop", applied=i < 2, held_back=i == 2, usd=10.0)
            for i in range(4)]
    hold_all(jobs, config)
    [sent] = digest.flush(config, "digests", NOW + timedelta(minutes=8) + timedelta(seconds=digest.GRACE_SECONDS)).sent
    assert (sent.decisions, sent.applied, sent.held_back) == (4, 2, 1)
    [message] = world["messages"]()
    assert message["attributes"]["applied"] == "true"
    assert "held back by the blast radius 1" in message["body"]["content"]["description"]


def test_a_failed_digest_is_tried_again(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    config = NotificationsConfig()
    hold_all([decision()], config)
    real = notify.notify
    calls: list[int] = []

    def flaky(item: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise notify.NotificationError("sns: Throttling")
        return real(item)

    monkeypatch.setattr(notify, "notify", flaky)
    first = digest.flush(config, "digests", None)
    assert first.sent == [] and len(first.failed) == 1
    assert world["messages"]() == []
    second = digest.flush(config, "digests", None)
    assert [d.decisions for d in second.sent] == [1]
    assert len(world["messages"]()) == 1


@pytest.fixture
def owner_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0")))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    monkeypatch.setenv("GREENRAIL_SLACK_ALLOWED_HOSTS", f"127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bodies.append({"url": f"http://127.0.0.1:{server.server_address[1]}/services/T/B/owner"})
    yield bodies
    server.shutdown()
    server.server_close()


def test_an_owner_gets_their_own_digest(world: dict[str, Any], owner_slack: list[dict[str, Any]]) -> None:
    url = owner_slack.pop(0)["url"]
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="greenrail/slack/team-a", SecretString=json.dumps({"webhook_url": url}))["ARN"]
    config = NotificationsConfig(owners={"team-a": OwnerRoute(slack_secret_arn=arn, sns_attribute="team-a")})
    hold_all([decision(owner="team-a"), decision("arn:aws:s3:::ml-data/other.csv")], config)
    sent = digest.flush(config, "digests", None).sent
    assert sorted(d.group.owner or "-" for d in sent) == ["-", "team-a"]
    [owned] = owner_slack  # only the owner's digest went to the owner's webhook
    assert "team-a" in owned["blocks"][-1]["elements"][0]["text"]
    owners = sorted(m["attributes"].get("owner", "-") for m in world["messages"]())
    assert owners == ["-", "team-a"]


def test_the_handlers(world: dict[str, Any]) -> None:
    notifier, digest_fn = load_function("notifier"), load_function("digest")
    from tests.integration.test_notifier import decision_event

    result = notifier.handler(decision_event(), Context())
    assert result["status"] == "held"
    assert world["messages"]() == []
    flushed = digest_fn.handler({"flush_all": True}, Context())
    assert flushed["sent"] == [{"policy": "storage", "scope": "account 123456789012", "decisions": 1}]
    assert len(world["messages"]()) == 1
    # a CRITICAL decision is sent at once
    assert notifier.handler(decision_event(severity="CRITICAL"), Context())["status"] == "notified"
    assert len(world["messages"]()) == 1


def test_a_malformed_input_sends_nothing(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """Not read as "flush the due windows" (it used to be): logged, counted, nothing sent."""
    notifier, digest_fn = load_function("notifier"), load_function("digest")
    from tests.integration.test_notifier import decision_event

    assert notifier.handler(decision_event(), Context())["status"] == "held"
    for event in ({"flush_all": "true"}, {"flush_all": 1}, {"flush_al": True}, ["flush_all"], None):
        assert digest_fn.handler(event, Context())["status"] == "malformed"
    assert world["messages"]() == []
    assert capsys.readouterr().out.count('"MalformedEvent":[') == 5
    assert digest_fn.handler({"flush_all": True}, Context())["sent"]  # still held, and sent when asked
    assert len(world["messages"]()) == 1


def test_an_unreadable_policy_document_sends_at_once(world: dict[str, Any]) -> None:
    world["policy"].write_text("version: 1\nnotifications: {window_minutes: -3}\n")
    notifier = load_function("notifier")
    from tests.integration.test_notifier import decision_event

    assert notifier.handler(decision_event(), Context())["status"] == "notified"
    assert len(world["messages"]()) == 1


def test_a_decision_sent_at_once_goes_to_its_owner(world: dict[str, Any], owner_slack: list[dict[str, Any]]) -> None:
    url = owner_slack.pop(0)["url"]
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="greenrail/slack/team-b", SecretString=json.dumps({"webhook_url": url}))["ARN"]
    config = NotificationsConfig(owners={"team-b": OwnerRoute(slack_secret_arn=arn, sns_attribute="team-b")})
    result = digest.notify_or_hold(decision(owner="team-b", severity="CRITICAL"), config, NOW)
    assert result["status"] == "notified" and result["slack"] == "sent"
    [sent] = owner_slack  # the owner's webhook, not the default one (none is configured)
    assert "storage" in sent["text"]
    [message] = world["messages"]()
    assert message["attributes"]["owner"] == "team-b"
