"""The storage policy's demo scenario: a governed bucket, an ungoverned one, duplicates, the sweep,
and a bucket swept from its S3 Inventory (aggregated decisions, an S3 Batch Operations merge job:
LambdaInvoke on StorageTagMergeFunction, which reads each object's tags when its task runs and
keeps them all)."""

from __future__ import annotations

from typing import Any

from greenrail.aws import client
from greenrail_cli.emulator import Emulator

GOVERNED = "acme-ml-datasets"
UNGOVERNED = "acme-scratch"
INVENTORIED = "acme-ml-images"  # swept from its S3 Inventory, not listed
INVENTORIES = "acme-ml-inventory"  # where S3 delivers the inventories
MANIFESTS = "acme-greenrail-manifests"  # Greenrail's manifest bucket (template parameter ManifestBucket)
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
    tagged_key = _inventoried_bucket(emulator, log)
    emulator.run_schedule("StorageSweepStateMachineDaily")
    log.append("scheduler: daily StorageSweepStateMachine run (plan accounts, Distributed Map, backfill)")
    inventory_state = _inventory_outcome(emulator, log, tagged_key)
    tags = {}
    for item in s3.list_objects_v2(Bucket=GOVERNED).get("Contents", []):
        tag_set = s3.get_object_tagging(Bucket=GOVERNED, Key=item["Key"])["TagSet"]
        tags[item["Key"]] = {t["Key"]: t["Value"] for t in tag_set}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=GOVERNED)["Rules"]
    return {"object_tags": tags, "lifecycle_rules": rules, "inventory": inventory_state}


def _inventoried_bucket(emulator: Emulator, log: list[str]) -> str:
    """A governed bucket with a daily CSV inventory: its newest manifest in the inventory bucket."""
    from greenrail_cli.emulator import inventory

    s3 = client("s3")
    for bucket in (INVENTORIED, INVENTORIES, MANIFESTS):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=INVENTORIED, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
    objects = [(f"training/cats/img-{i:04d}.jpg", 1 * MIB, "STANDARD", "e") for i in range(8)]
    objects += [(f"training/dogs/img-{i:04d}.jpg", 2 * MIB, "STANDARD", "e") for i in range(4)]
    objects += [(f"exports/2026-11/report-{i}.parquet", 3 * MIB, "STANDARD", "e") for i in range(3)]
    for key, size, _, _ in objects:
        _put(INVENTORIED, key, size)
    tagged = objects[0][0]
    s3.put_object_tagging(Bucket=INVENTORIED, Key=tagged, Tagging={"TagSet": [{"Key": "owner", "Value": "vision-team"}]})
    inventory.configure(s3, INVENTORIED, INVENTORIES)
    manifest = inventory.publish(s3, INVENTORIED, INVENTORIES, objects, emulator.clock.now(), files=2)
    log.append(f"s3: bucket {INVENTORIED} ({len(objects)} objects, one tagged owner=vision-team) with a daily "
               f"CSV inventory; newest manifest s3://{INVENTORIES}/{manifest}")
    return tagged


def _inventory_outcome(emulator: Emulator, log: list[str], tagged_key: str) -> dict[str, Any]:
    """The inventory sweep's aggregated decisions, its Batch Operations merge job, the tagged object's tags."""
    s3, s3control = client("s3"), client("s3control")
    decisions = [d for d in emulator.decisions if d.resource == f"arn:aws:s3:::{INVENTORIED}"]
    jobs = {}
    for decision in decisions:
        log.append(f"inventory sweep: {decision.action} {decision.target.get('storage_class')} "
                   f"under {decision.target.get('prefix')!r}: {decision.figures.get('objects')} objects, "
                   f"{decision.figures.get('size_bytes', 0) / MIB:.0f} MiB, ${decision.savings.usd_per_month:.4f}/month")
        job_id = decision.figures.get("batch_job_id")
        if job_id and job_id not in jobs:
            job = s3control.describe_job(AccountId=decision.account, JobId=job_id)["Job"]
            operation = next(iter(job.get("Operation") or {"?": None}))
            jobs[job_id] = {"status": job["Status"], "operation": operation, **job.get("ProgressSummary", {})}
            how = ("merge job, LambdaInvoke StorageTagMergeFunction: each object's tags read when its task runs, "
                   "all kept" if operation == "LambdaInvoke" else f"{operation} job")
            log.append(f"s3 batch operations: {how}; job {job_id[:8]} {job['Status']}: "
                       f"{job.get('ProgressSummary', {}).get('NumberOfTasksSucceeded', 0)} objects tagged")
    kept = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=INVENTORIED, Key=tagged_key)["TagSet"]}
    log.append(f"s3: {tagged_key} keeps its tags: {kept}")
    return {"decisions": len(decisions), "jobs": jobs, "tagged_object": {tagged_key: kept}}
