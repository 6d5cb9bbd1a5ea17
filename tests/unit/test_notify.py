"""Notification wording and documents (no AWS, no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from greenrail import notify
from greenrail.decision import Decision, Mode, Savings


def decision(**overrides: Any) -> Decision:
    fields: dict[str, Any] = {
        "policy": "storage",
        "resource": "s3://b/k",
        "account": "123456789012",
        "region": "us-east-1",
        "action": "tag",
        "target": {"storage_class": "ONEZONE_IA"},
        "mode": Mode.DRY_RUN,
        "reason": "key path segment 'train' matches the ONEZONE_IA rule",
        "savings": Savings(usd_per_month=0.42, kgco2e_per_month=0.01),
        "event_id": "evt-1",
        "decided_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    fields.update(overrides)
    return Decision(**fields)


def unchecked(**overrides: Any) -> Decision:
    """A decision the model would refuse (a policy or action outside its vocabulary): the
    wording must cope with whatever a decision carries."""
    fields = dict(decision())
    fields.update(overrides)
    return Decision.model_construct(**fields)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    notify.reset()


class TestHumanText:
    def test_dry_run(self) -> None:
        assert (
            notify.human_text(decision())
            == "[dry-run] storage: would tag s3://b/k for ONEZONE_IA — saves $0.42/month, 0.01 kgCO2e/month"
        )

    def test_applied(self) -> None:
        text = notify.human_text(
            unchecked(mode=Mode.ENFORCE, applied=True, action="stop_training_job", target={})
        )
        assert text.startswith("[enforce] storage: stop training job s3://b/k (applied)")

    def test_enforce_not_applied_says_so(self) -> None:
        assert "(not applied)" in notify.human_text(decision(mode=Mode.ENFORCE))

    def test_no_savings_no_suffix(self) -> None:
        text = notify.human_text(decision(savings=Savings()))
        assert "saves" not in text

    def test_nothing_to_do(self) -> None:
        text = notify.human_text(decision(action="none", compliant=True, target={}, savings=Savings()))
        assert text.startswith("[dry-run] storage: no action for s3://b/k (")

    def test_multi_value_target(self) -> None:
        text = notify.human_text(decision(target={"instance_type": "ml.g5.xlarge", "count": 1}))
        assert "for instance_type=ml.g5.xlarge, count=1" in text

    def test_tiny_figures_keep_significant_digits(self) -> None:
        text = notify.human_text(decision(savings=Savings(usd_per_month=1234.5, kgco2e_per_month=0.000123)))
        assert "$1,234.50/month, 0.000123 kgCO2e/month" in text  # greenrail.units: no exponent, ever


class TestSubject:
    def test_ascii_single_line_and_short(self) -> None:
        subject = notify.subject(unchecked(resource="s3://b/ünïcode\nkey/" + "x" * 200, policy="stöрage"))
        assert len(subject) <= 99  # SNS: "less than 100 characters"
        assert subject.isascii()
        assert "\n" not in subject
        assert subject.endswith("...")

    def test_short_subject_unchanged(self) -> None:
        assert notify.subject(decision()) == "Greenrail [dry-run] storage: tag s3://b/k"


class TestChatNotification:
    def test_schema(self) -> None:
        message = notify.chat_notification(decision())
        assert message["version"] == "1.0"
        assert message["source"] == "custom"
        assert message["id"] == "evt-1"
        content = message["content"]
        assert content["textType"] == "client-markdown"
        assert set(content) == {"textType", "title", "description", "nextSteps", "keywords"}
        assert "storage" in content["title"]
        assert "`s3://b/k`" in content["description"]
        assert all(isinstance(step, str) for step in content["nextSteps"])
        assert any("mode: enforce" in step for step in content["nextSteps"])
        metadata = message["metadata"]
        assert set(metadata) == {"threadId", "summary", "eventType", "relatedResources", "additionalContext"}
        assert metadata["summary"] == notify.human_text(decision())
        assert metadata["relatedResources"] == ["s3://b/k"]
        assert metadata["eventType"] == "GreenrailDecision"
        assert all(isinstance(v, str) for v in metadata["additionalContext"].values())
        assert metadata["additionalContext"]["policy"] == "storage"
        json.dumps(message)  # serialisable

    def test_thread_is_per_policy_and_resource(self) -> None:
        a = notify.chat_notification(decision())["metadata"]["threadId"]
        b = notify.chat_notification(decision(mode=Mode.ENFORCE, applied=True))["metadata"]["threadId"]
        c = notify.chat_notification(decision(resource="s3://b/other"))["metadata"]["threadId"]
        assert a == b != c

    def test_no_event_id(self) -> None:
        message = notify.chat_notification(decision(event_id=None))
        assert "id" not in message
        assert "eventId" not in message["metadata"]["additionalContext"]

    def test_long_reason_truncated(self) -> None:
        message = notify.chat_notification(decision(reason="r" * 10_000))
        assert len(message["content"]["description"]) <= notify.CHAT_DESCRIPTION_MAX


class TestSlackMessage:
    def test_blocks(self) -> None:
        body = notify.slack_message(decision())
        assert body["text"] == notify.human_text(decision())
        header, section, context = body["blocks"]
        assert header["type"] == "header"
        assert header["text"]["type"] == "plain_text"
        labels = [field["text"].split("\n")[0] for field in section["fields"]]
        assert labels == [
            "*Policy*",
            "*Resource*",
            "*Action*",
            "*Mode*",
            "*Applied*",
            "*Savings*",
            "*Reason*",
        ]
        assert context["type"] == "context"
        assert "evt-1" in context["elements"][0]["text"]

    def test_limits(self) -> None:
        body = notify.slack_message(
            unchecked(policy="p" * 500, reason="r" * 5000, resource="s3://b/" + "k" * 3000)
        )
        assert len(body["blocks"][0]["text"]["text"]) <= notify.SLACK_HEADER_MAX
        assert all(len(f["text"]) <= notify.SLACK_FIELD_MAX for f in body["blocks"][1]["fields"])
        assert len(body["text"]) <= notify.SLACK_TEXT_MAX


class FakeSecrets:
    def __init__(self, value: Any):
        self.value = value

    def get(self, name: str, max_age: int | None = None) -> Any:
        return self.value


class TestWebhookSecret:
    @pytest.mark.parametrize(
        "stored",
        [
            "https://hooks.slack.example/services/T/B/X",
            "  https://hooks.slack.example/services/T/B/X\n",
            '{"webhook_url": "https://hooks.slack.example/services/T/B/X"}',
            b"https://hooks.slack.example/services/T/B/X",
        ],
    )
    def test_url_or_json(self, monkeypatch: pytest.MonkeyPatch, stored: Any) -> None:
        monkeypatch.setattr(notify, "_secrets_provider", FakeSecrets(stored))
        assert notify.slack_webhook_url("arn:secret") == "https://hooks.slack.example/services/T/B/X"

    @pytest.mark.parametrize(
        "stored", ['{"url": "https://x/secret-token"}', "not-a-url-secret-token", "{bad json"]
    )
    def test_unusable_secret_never_echoed(self, monkeypatch: pytest.MonkeyPatch, stored: str) -> None:
        monkeypatch.setattr(notify, "_secrets_provider", FakeSecrets(stored))
        with pytest.raises(notify.SlackDeliveryError) as raised:
            notify.slack_webhook_url("arn:secret")
        assert "secret-token" not in str(raised.value)
        assert "arn:secret" in str(raised.value)


class TestChannels:
    def test_nothing_configured_sends_nothing_and_logs_skip_once(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.delenv("GREENRAIL_TOPIC_ARN", raising=False)
        monkeypatch.delenv("GREENRAIL_SLACK_SECRET_ARN", raising=False)
        caplog.set_level("INFO", logger="greenrail.notify")
        assert notify.notify(decision()) == {"sns": None, "slack": "skipped"}
        notify.notify(decision())
        skips = [r for r in caplog.records if "Slack notifications are skipped" in r.getMessage()]
        assert len(skips) == 1

    def test_sns_failure_still_tries_slack_then_raises(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GREENRAIL_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t")
        monkeypatch.setenv("GREENRAIL_SLACK_SECRET_ARN", "arn:secret")
        sent: list[Decision] = []

        def broken_publish(d: Decision, topic: str) -> str:
            raise RuntimeError("sns down")

        monkeypatch.setattr(notify, "publish_sns", broken_publish)
        monkeypatch.setattr(notify, "slack_webhook_url", lambda arn: "https://hooks.example/x")
        monkeypatch.setattr(notify, "send_slack", lambda d, url: sent.append(d))
        with pytest.raises(notify.NotificationError, match="sns"):
            notify.notify(decision())
        assert len(sent) == 1
