"""The storage policy's demo scenario: a governed bucket, an ungoverned one, duplicates, the sweep."""

from __future__ import annotations

from typing import Any

from greenrail.aws import client
from greenrail_cli.emulator import Emulator

GOVERNED = "acme-ml-datasets"
UNGOVERNED = "acme-scratch"
MIB = 1024 * 1024


def _put(bucket: str, key: str, size: int, tagging: str | None = None) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": b"\0" * size}
    if tagging:
        kwargs["Tagging"] = tagging
    client("s3").put_object(**kwargs)


def scenario(emulator: Emulator, log: list[str]) -> dict[str, Any]:
    """A governed bucket, an ungoverned one, a duplicate event and the daily backfill sweep."""
    s3 = client("s3")
    s3.create_bucket(Bucket=GOVERNED)
    s3.put_bucket_tagging(Bucket=GOVERNED, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
    s3.put_bucket_lifecycle_configuration(Bucket=GOVERNED, LifecycleConfiguration={"Rules": [
        {"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]})
    _put(GOVERNED, "legacy/train/images-000.tar", 4 * MIB)  # before notifications: the sweep finds it
    s3.put_bucket_notification_configuration(Bucket=GOVERNED,
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
    log.append(f"s3: bucket {GOVERNED} (greenrail:storage=managed, own rule expire-tmp, 1 object from before)")
    uploads = [
        ("datasets/churn/train/part-0000.parquet", 3 * MIB, None),
        ("datasets/churn/test/part-0000.parquet", 1 * MIB, None),
        ("raw/clickstream/2026-11-26.json.gz", 6 * MIB, None),
        ("datasets/churn/train/_SUCCESS", 0, None),
        ("datasets/churn/validation/labels.csv", 2 * MIB, "greenrail:exempt=true"),
    ]
    for key, size, tagging in uploads:
        _put(GOVERNED, key, size, tagging)
        log.append(f"s3: PutObject s3://{GOVERNED}/{key} ({size} bytes{', exempt' if tagging else ''})"
                   " -> Object Created -> StorageObjectFunction")
        emulator.drain()
    s3.create_bucket(Bucket=UNGOVERNED)
    s3.put_bucket_notification_configuration(Bucket=UNGOVERNED,
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
    _put(UNGOVERNED, "train/scratch.bin", 2 * MIB)
    emulator.drain()
    log.append(f"s3: PutObject s3://{UNGOVERNED}/train/scratch.bin (bucket not governed: ignored)")
    # The same Object Created event delivered three more times: no second tag write, notification or finding.
    first = next(event for bus, event in emulator.events
                 if bus == "default" and event.get("source") == "aws.s3"
                 and event["detail"]["object"]["key"] == uploads[0][0])
    for _ in range(3):
        emulator.deliver(first)
    log.append(f"eventbridge: the Object Created event for {uploads[0][0]} delivered 3 more times")
    emulator.run_schedule("StorageSweepStateMachineDaily")
    log.append("scheduler: daily StorageSweepStateMachine run (plan accounts, Distributed Map, backfill)")
    tags = {}
    for item in s3.list_objects_v2(Bucket=GOVERNED).get("Contents", []):
        tag_set = s3.get_object_tagging(Bucket=GOVERNED, Key=item["Key"])["TagSet"]
        tags[item["Key"]] = {t["Key"]: t["Value"] for t in tag_set}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=GOVERNED)["Rules"]
    return {"object_tags": tags, "lifecycle_rules": rules}
