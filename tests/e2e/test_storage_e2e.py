"""template.yaml deployed into the emulator; S3 events replayed through its rules to the final state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from greenrail.aws import client
from greenrail_cli.emulator import Emulator
from tests.conftest import EACH, ROOT

pytestmark = pytest.mark.e2e
EVENT = json.loads((ROOT / "events" / "s3-object-created.json").read_text())
BUCKET = EVENT["detail"]["bucket"]["name"]
KEY = EVENT["detail"]["object"]["key"]


def seed(bucket: str = BUCKET, governed: bool = True, notifications: bool = False) -> Any:
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    if governed:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
    if notifications:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    return s3


@pytest.fixture
def enforce() -> Iterator[Emulator]:
    with Emulator(EACH + "storage:\n  mode: enforce\n") as emulator:
        yield emulator


def test_sample_event_to_tag_lifecycle_notification_and_finding(enforce: Emulator) -> None:
    s3 = seed()
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\0" * EVENT["detail"]["object"]["size"])
    enforce.deliver(EVENT)

    tag_set = s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"]
    assert tag_set == [{"Key": "greenrail:storage-class", "Value": "ONEZONE_IA"}]
    rule_ids = [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]]
    assert "greenrail-onezone-ia" in rule_ids

    [decision] = enforce.decisions
    assert decision.applied and decision.event_id == EVENT["id"] and decision.account == EVENT["account"]

    [notification] = enforce.notifications
    message = json.loads(notification["message"])
    assert message["version"] == "1.0" and message["source"] == "custom"
    assert KEY in json.dumps(message)

    [finding] = enforce.findings
    assert finding["Resources"][0]["Type"] == "AwsS3Object"
    assert finding["Resources"][0]["Id"] == f"arn:aws:s3:::{BUCKET}/{KEY}"
    assert finding["Compliance"]["Status"] == "PASSED" and finding["RecordState"] == "ARCHIVED"
    assert finding["ProductFields"]["greenrail/action"] == "tag"
    assert enforce.dead_letters == []


def test_dry_run_then_enforce_moves_the_finding_from_failed_to_passed() -> None:
    with Emulator(EACH) as emulator:  # the template's default policy document: everything in dry-run
        s3 = seed()
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\0" * 200_000)
        emulator.deliver(EVENT)
        assert s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"] == []
        [finding] = emulator.findings
        assert finding["Compliance"]["Status"] == "FAILED" and finding["RecordState"] == "ACTIVE"

        emulator.set_policy(EACH + "storage:\n  mode: enforce\n")
        emulator.run_schedule("StorageSweepStateMachineDaily")
        [finding] = emulator.findings  # same deterministic Id: updated in place
        assert finding["Compliance"]["Status"] == "PASSED" and finding["RecordState"] == "ARCHIVED"
        assert s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"][0]["Value"] == "ONEZONE_IA"


def test_put_object_through_s3_notifications_and_duplicates(enforce: Emulator) -> None:
    s3 = seed(notifications=True)
    s3.put_object(Bucket=BUCKET, Key="raw/events.json", Body=b"\0" * 500_000)
    enforce.drain()
    s3_event = next(e for bus, e in enforce.events if e.get("source") == "aws.s3")
    assert s3_event["detail"]["object"]["etag"] and s3_event["detail"]["reason"] == "PutObject"
    for _ in range(3):
        enforce.deliver(s3_event)
    assert len(enforce.decisions) == 1
    assert len(enforce.notifications) == 1
    assert len(enforce.findings) == 1
    assert s3.get_object_tagging(Bucket=BUCKET, Key="raw/events.json")["TagSet"][0]["Value"] == "INTELLIGENT_TIERING"


def test_ungoverned_small_and_exempt_objects_are_left_alone(enforce: Emulator) -> None:
    s3 = seed(notifications=True)
    seed("scratch-bucket", governed=False, notifications=True)
    s3.put_object(Bucket="scratch-bucket", Key="train/a.bin", Body=b"\0" * 500_000)
    s3.put_object(Bucket=BUCKET, Key="d/train/_SUCCESS", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="d/train/keep.bin", Body=b"\0" * 500_000, Tagging="greenrail:exempt=true")
    enforce.drain()
    assert enforce.decisions == [] and enforce.findings == []
    assert s3.get_object_tagging(Bucket="scratch-bucket", Key="train/a.bin")["TagSet"] == []
    with pytest.raises(Exception, match="NoSuchLifecycleConfiguration"):
        s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)


def test_persistent_throttling_ends_in_the_dead_letter_queue(enforce: Emulator) -> None:
    from botocore.exceptions import ClientError

    s3 = seed()
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\0" * 200_000)

    def throttle(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}},
                          "PutObjectTagging")

    client("s3").meta.events.register("before-call.s3.PutObjectTagging", throttle)
    enforce.deliver(EVENT)
    [(function, event, error)] = enforce.dead_letters
    assert function.endswith("StorageObjectFunction") and event["id"] == EVENT["id"] and "SlowDown" in error
    sqs = client("sqs")
    body = sqs.receive_message(QueueUrl=enforce.physical("DeadLetterQueue"))["Messages"][0]["Body"]
    assert json.loads(body)["id"] == EVENT["id"]  # nothing lost: the event waits in the DLQ
    assert enforce.decisions == []  # nothing half-announced


def test_sweep_prepares_a_batch_operations_job_above_the_threshold() -> None:
    policy = (EACH + "storage:\n  mode: enforce\n  sweep:\n    batch_operations_threshold: 3\n"
              "    manifest_bucket: greenrail-manifests\n"
              "    batch_operations_role_arn: arn:aws:iam::123456789012:role/greenrail-batch\n")
    # the deployment grants Batch Operations only when these two are given (HasBatchOperations)
    parameters = {"BatchOperationsRoleArn": "arn:aws:iam::123456789012:role/greenrail-batch",
                  "ManifestBucket": "greenrail-manifests"}
    with Emulator(policy, parameters=parameters) as emulator:
        s3 = seed()
        s3.create_bucket(Bucket="greenrail-manifests")
        for i in range(5):
            s3.put_object(Bucket=BUCKET, Key=f"d/train/part-{i}.bin", Body=b"\0" * 200_000)
        s3.put_object(Bucket=BUCKET, Key="d/train/labelled.bin", Body=b"\0" * 200_000, Tagging="team=vision")
        emulator.run_schedule("StorageSweepStateMachineDaily")
        # an object with tags is tagged on its own (a Batch job would replace its tag set)
        assert s3.get_object_tagging(Bucket=BUCKET, Key="d/train/labelled.bin")["TagSet"] == [
            {"Key": "greenrail:storage-class", "Value": "ONEZONE_IA"}, {"Key": "team", "Value": "vision"}]
        [decision] = [d for d in emulator.decisions if d.action == "batch-tag"]
        assert decision.action == "batch-tag" and decision.applied and decision.figures["objects"] == 5
        job = client("s3control").describe_job(AccountId="123456789012", JobId=decision.figures["batch_job_id"])["Job"]
        assert job["Status"] == "Suspended" and job["ConfirmationRequired"] is True
        manifest_key = decision.figures["manifest"].split("/", 3)[3]
        manifest = s3.get_object(Bucket="greenrail-manifests", Key=manifest_key)["Body"].read().decode()
        assert sorted(manifest.splitlines()) == [f"{BUCKET},d/train/part-{i}.bin" for i in range(5)]
        # objects are not tagged one by one: the job will do it once confirmed
        assert s3.get_object_tagging(Bucket=BUCKET, Key="d/train/part-0.bin")["TagSet"] == []
        # the next day's sweep sees the same objects: no second job, nothing announced again
        from greenrail_cli.emulator.moto_ext.s3control import JOBS

        announced = len(emulator.decisions)
        emulator.run_schedule("StorageSweepStateMachineDaily")
        assert len(JOBS) == 1 and len(emulator.decisions) == announced
        # a merge job (tagging: merge, the default): tagged while the job waited, an object keeps that tag
        assert "LambdaInvoke" in JOBS[decision.figures["batch_job_id"]]["Operation"]
        s3.put_object_tagging(Bucket=BUCKET, Key="d/train/part-1.bin",
                              Tagging={"TagSet": [{"Key": "owner", "Value": "ana"}]})
        client("s3control").update_job_status(AccountId="123456789012", JobId=decision.figures["batch_job_id"],
                                              RequestedJobStatus="Ready")
        assert {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key="d/train/part-1.bin")["TagSet"]} \
            == {"owner": "ana", "greenrail:storage-class": "ONEZONE_IA"}
        assert s3.get_object_tagging(Bucket=BUCKET, Key="d/train/part-0.bin")["TagSet"] == [
            {"Key": "greenrail:storage-class", "Value": "ONEZONE_IA"}]


def test_the_sweep_does_not_announce_again_what_the_event_announced() -> None:
    with Emulator(EACH) as emulator:  # dry-run: the decision stays FAILED, and is announced once
        s3 = seed(notifications=True)
        s3.put_object(Bucket=BUCKET, Key="d/train/x.bin", Body=b"\0" * 300_000)
        emulator.drain()
        assert len(emulator.notifications) == 1
        emulator.run_schedule("StorageSweepStateMachineDaily")
        emulator.run_schedule("StorageSweepStateMachineDaily")
        assert len(emulator.notifications) == 1 and len(emulator.decisions) == 1
        # the same key overwritten: a new object state, decided and announced again
        s3.put_object(Bucket=BUCKET, Key="d/train/x.bin", Body=b"\1" * 300_000)
        emulator.drain()
        assert len(emulator.notifications) == 2
