"""The storage object handler against moto: resulting tags, lifecycle rules and decisions."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenrail import aws
from tests.conftest import ROOT, load_function

EVENT = json.loads((ROOT / "events" / "s3-object-created.json").read_text())
BUCKET = EVENT["detail"]["bucket"]["name"]
KEY = EVENT["detail"]["object"]["key"]


@pytest.fixture
def estate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    policy = tmp_path / "policy.yaml"
    policy.write_text("storage:\n  mode: enforce\n")
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(policy))
    monkeypatch.setenv("GREENRAIL_STATE_TABLE", "state")
    monkeypatch.setenv("GREENRAIL_BUS_NAME", "decisions")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Greenrail")
    with mock_aws():
        aws.reset_clients()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [
            {"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]})
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\0" * 300_000, Tagging="team=churn")
        boto3.client("dynamodb").create_table(
            TableName="state", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        events = boto3.client("events")
        events.create_event_bus(Name="decisions")
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="observer")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName="decisions", EventPattern=json.dumps({"source": ["greenrail"]}))
        events.put_targets(Rule="all", EventBusName="decisions", Targets=[{"Id": "q", "Arn": arn}])

        def published() -> list[dict[str, Any]]:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(m["Body"])["detail"] for m in messages]

        yield {"s3": s3, "published": published, "policy": policy}


def tags(s3: Any, key: str = KEY) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def test_enforce_tags_object_and_merges_lifecycle(estate: dict[str, Any], lambda_context: Any) -> None:
    result = load_function("storage_object").handler(EVENT, lambda_context)
    s3 = estate["s3"]
    assert result["decision"]["applied"] is True
    assert tags(s3) == {"team": "churn", "greenrail:storage-class": "ONEZONE_IA"}  # existing tag kept
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
    assert set(rules) == {"expire-tmp", "greenrail-onezone-ia", "greenrail-intelligent-tiering"}
    assert rules["greenrail-onezone-ia"]["Transitions"][0]["StorageClass"] == "ONEZONE_IA"
    [decision] = estate["published"]()
    assert decision["action"] == "tag" and decision["applied"] and decision["compliant"]
    assert decision["resource"] == f"arn:aws:s3:::{BUCKET}/{KEY}"
    assert decision["event_id"] == EVENT["id"]


def test_dry_run_changes_nothing(estate: dict[str, Any], lambda_context: Any) -> None:
    estate["policy"].write_text("storage:\n  mode: dry-run\n")
    before = estate["s3"].get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    load_function("storage_object").handler(EVENT, lambda_context)
    assert tags(estate["s3"]) == {"team": "churn"}
    assert estate["s3"].get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"] == before
    [decision] = estate["published"]()
    assert decision["action"] == "tag" and not decision["applied"] and not decision["compliant"]


def test_same_event_three_times_acts_once(estate: dict[str, Any], lambda_context: Any) -> None:
    handler = load_function("storage_object").handler
    writes: list[str] = []
    aws.client("s3").meta.events.register("before-call.s3.PutObjectTagging", lambda **kw: writes.append("tag"))
    for _ in range(3):
        handler(copy.deepcopy(EVENT), lambda_context)
    second_id = dict(EVENT, id="another-delivery-id")  # SageMaker/S3 may resend with a new id
    handler(second_id, lambda_context)
    assert writes == ["tag"]
    assert len(estate["published"]()) == 1


def test_object_deleted_before_handling(estate: dict[str, Any], lambda_context: Any) -> None:
    estate["s3"].delete_object(Bucket=BUCKET, Key=KEY)
    assert load_function("storage_object").handler(EVENT, lambda_context)["status"] == "gone"
    assert estate["published"]() == []


def test_ungoverned_bucket_ignored(estate: dict[str, Any], lambda_context: Any) -> None:
    estate["s3"].delete_bucket_tagging(Bucket=BUCKET)
    assert load_function("storage_object").handler(EVENT, lambda_context)["status"] == "ungoverned"
    assert tags(estate["s3"]) == {"team": "churn"}


def test_exempt_object_untouched(estate: dict[str, Any], lambda_context: Any) -> None:
    estate["s3"].put_object_tagging(Bucket=BUCKET, Key=KEY, Tagging={"TagSet": [
        {"Key": "greenrail:exempt", "Value": "true"}]})
    load_function("storage_object").handler(EVENT, lambda_context)
    assert tags(estate["s3"]) == {"greenrail:exempt": "true"}
    assert estate["published"]() == []


@pytest.mark.parametrize("mutate", [
    lambda e: e.pop("detail"),
    lambda e: e["detail"].pop("bucket"),
    lambda e: e["detail"]["object"].update(key=""),
    lambda e: e.update(source="aws.sagemaker"),
])
def test_malformed_event_is_logged_not_raised(estate: dict[str, Any], lambda_context: Any, mutate: Any,
                                              capsys: pytest.CaptureFixture[str],
                                              caplog: pytest.LogCaptureFixture) -> None:
    event = copy.deepcopy(EVENT)
    mutate(event)
    assert load_function("storage_object").handler(event, lambda_context)["status"] == "malformed"
    assert "malformed S3 Object Created event" in caplog.text
    assert '"MalformedEvent"' in capsys.readouterr().out
    assert tags(estate["s3"]) == {"team": "churn"}


def test_access_denied_is_a_clear_error_not_a_crash(estate: dict[str, Any], lambda_context: Any,
                                                    capsys: pytest.CaptureFixture[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    def deny(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetBucketTagging")

    aws.client("s3").meta.events.register("before-call.s3.GetBucketTagging", deny)
    assert load_function("storage_object").handler(EVENT, lambda_context)["status"] == "access-denied"
    assert "access denied" in caplog.text
    assert '"AccessDenied"' in capsys.readouterr().out


def test_bad_policy_document_raises_so_the_event_is_kept(estate: dict[str, Any], lambda_context: Any) -> None:
    from greenrail.document import PolicyError

    estate["policy"].write_text("storage:\n  mode: always\n")
    with pytest.raises(PolicyError, match="storage.mode"):
        load_function("storage_object").handler(EVENT, lambda_context)
    assert tags(estate["s3"]) == {"team": "churn"}


def test_blast_radius_caps_actions(estate: dict[str, Any], lambda_context: Any) -> None:
    estate["policy"].write_text("storage:\n  mode: enforce\n  blast_radius:\n    max_actions_per_hour: 1\n")
    estate["s3"].put_object(Bucket=BUCKET, Key="d/test/b.bin", Body=b"\0" * 200_000)
    handler = load_function("storage_object").handler
    handler(EVENT, lambda_context)
    second = copy.deepcopy(EVENT)
    second["id"] = "e2"
    second["detail"]["object"]["key"] = "d/test/b.bin"
    result = handler(second, lambda_context)
    assert result["decision"]["applied"] is False and "blast radius" in result["decision"]["reason"]
    assert "greenrail:storage-class" not in tags(estate["s3"], "d/test/b.bin")


def test_announcement_survives_a_failed_put_events_without_tagging_twice(estate: dict[str, Any],
                                                                          lambda_context: Any) -> None:
    handler = load_function("storage_object").handler
    writes: list[str] = []
    failures = ["once"]

    def flaky_bus(**_: Any) -> None:
        if failures:
            failures.pop()
            raise ClientError({"Error": {"Code": "InternalException", "Message": "try later"}}, "PutEvents")

    aws.client("s3").meta.events.register("before-call.s3.PutObjectTagging", lambda **kw: writes.append("tag"))
    aws.client("events").meta.events.register("before-call.events.PutEvents", flaky_bus)
    with pytest.raises(ClientError):
        handler(EVENT, lambda_context)  # tagged, then the announcement failed: the event is retried
    assert tags(estate["s3"])["greenrail:storage-class"] == "ONEZONE_IA"
    handler(EVENT, lambda_context)  # the retry
    handler(EVENT, lambda_context)  # and a duplicate
    assert writes == ["tag"]
    [decision] = estate["published"]()
    assert decision["applied"] is True and decision["action"] == "tag"


def test_held_back_by_the_blast_radius_is_tried_again_later(estate: dict[str, Any], lambda_context: Any) -> None:
    estate["policy"].write_text("storage:\n  mode: enforce\n  blast_radius:\n    max_actions_per_hour: 0\n")
    handler = load_function("storage_object").handler
    assert handler(EVENT, lambda_context)["decision"]["applied"] is False
    assert "greenrail:storage-class" not in tags(estate["s3"])
    estate["policy"].write_text("storage:\n  mode: enforce\n")  # the cap is raised (or the hour turns)
    assert handler(EVENT, lambda_context)["decision"]["applied"] is True
    assert tags(estate["s3"])["greenrail:storage-class"] == "ONEZONE_IA"
    announced = estate["published"]()
    assert [d["applied"] for d in announced] == [False, True]


def test_permanent_error_while_acting_is_announced_not_retried(estate: dict[str, Any], lambda_context: Any,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                           "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObjectTagging")

    aws.client("s3").meta.events.register("before-call.s3.PutObjectTagging", refuse)
    result = load_function("storage_object").handler(EVENT, lambda_context)
    assert result["decision"]["applied"] is False and "AccessDenied" in result["decision"]["reason"]
    assert '"ActionFailed"' in capsys.readouterr().out
    [decision] = estate["published"]()
    assert decision["figures"]["error"] == "AccessDenied" and not decision["compliant"]


def _logged(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """Everything the invocation logged: the functions' JSON lines and every record with its extras."""
    records = "\n".join(json.dumps(vars(record), default=str) for record in caplog.records)
    return capsys.readouterr().out + "\n" + records


def test_object_keys_stay_out_of_the_logs_by_default(estate: dict[str, Any], lambda_context: Any,
                                                     capsys: pytest.CaptureFixture[str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    import hashlib

    caplog.set_level("INFO")
    result = load_function("storage_object").handler(EVENT, lambda_context)
    logged = _logged(capsys, caplog)
    assert result["decision"]["applied"] is True
    assert KEY not in logged and "part-0000" not in logged
    assert hashlib.sha256(KEY.encode()).hexdigest()[:16] in logged  # the key's short hash instead
    [decision] = estate["published"]()
    assert decision["resource"] == f"arn:aws:s3:::{BUCKET}/{KEY}"  # the audit trail keeps the key


def test_object_keys_logged_when_the_policy_opts_in(estate: dict[str, Any], lambda_context: Any,
                                                    capsys: pytest.CaptureFixture[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    estate["policy"].write_text("storage:\n  mode: enforce\n  log_object_keys: true\n")
    load_function("storage_object").handler(EVENT, lambda_context)
    assert KEY in _logged(capsys, caplog)


def test_a_refused_announcement_raises_without_the_key(estate: dict[str, Any], lambda_context: Any) -> None:
    from types import SimpleNamespace

    from greenrail.bus import PublishError

    def refuse_entries(**_: Any) -> Any:  # PutEvents answers, but refuses the entry
        return SimpleNamespace(status_code=200), {"FailedEntryCount": 1, "Entries": [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "try later"}]}

    aws.client("events").meta.events.register("before-call.events.PutEvents", refuse_entries)
    with pytest.raises(PublishError) as caught:  # the message is logged by the Lambda runtime
        load_function("storage_object").handler(EVENT, lambda_context)
    assert KEY not in str(caught.value) and "InternalFailure" in str(caught.value)
    assert caught.value.failed == [(f"arn:aws:s3:::{BUCKET}/{KEY}", "InternalFailure")]
