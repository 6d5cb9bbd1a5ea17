"""Buckets swept from S3 Inventory, end to end in the emulator: template.yaml deployed, the daily
sweep run, StorageInventoryStateMachine's Distributed Map over the manifest, S3 Batch Operations.

One emulator and two sweeps for every case (a day apart, each with a newer inventory):
* ``ml-inv-a``: aggregated decisions, a Batch Operations merge job (LambdaInvoke, the tag-merge
  function run by the emulator) for every chosen object: an object with tags keeps them;
* ``ml-inv-b``: its manifest lists a file that is gone and a file of corrupt rows: the rest is
  swept, the failure is one decision;
* ``ml-inv-c``: its Batch Operations job fails part-way; the report names the objects, the next
  sweep tags them;
* ``ml-list-d``: no inventory and more objects than the listing threshold: recommend-inventory,
  and (enforce, allowed) an inventory configuration created.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from greenrail.aws import client
from greenrail.decision import Decision
from greenrail_cli.emulator import Emulator, inventory
from greenrail_cli.emulator.moto_ext import s3control as batch_ext

pytestmark = pytest.mark.e2e
MANIFESTS, INVENTORIES, ROLE = "greenrail-manifests", "acme-inventory", "arn:aws:iam::123456789012:role/greenrail-batch"
POLICY = f"""storage:
  mode: enforce
  sweep:
    manifest_bucket: {MANIFESTS}
    batch_operations_role_arn: {ROLE}
  inventory:
    rows_per_batch: 4
    tolerated_failure_percentage: 50
    listing_threshold: 5
    allow_create_inventory: true
"""
SIZE = 200 * 1024  # above the 128 KiB minimum: train data goes to One Zone-IA
DAY_ONE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def train(bucket: str, count: int, start: int = 0) -> list[tuple[str, int, str, str]]:
    return [(f"datasets/train/part {i:03d}.bin", SIZE, "STANDARD", "e") for i in range(start, start + count)]


def tags(bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def bucket_decisions(emulator: Emulator, bucket: str) -> list[Decision]:
    return [d for d in emulator.decisions if d.resource.startswith(f"arn:aws:s3:::{bucket}")]


def corrupt_rows(bucket: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[bucket, "datasets/train/bad-0.bin", "not-a-size", "x", "STANDARD", "e"],
                                  [bucket, "datasets/train/bad-1.bin"]])
    return gzip.compress(buffer.getvalue().encode())


@pytest.fixture(scope="module")
def swept() -> Iterator[dict[str, Any]]:
    parameters = {"BatchOperationsRoleArn": ROLE, "ManifestBucket": MANIFESTS}
    with Emulator(POLICY, parameters=parameters) as emulator:
        s3 = client("s3")
        objects: dict[str, list[tuple[str, int, str, str]]] = {}
        for bucket in (MANIFESTS, INVENTORIES, "ml-inv-a", "ml-inv-b", "ml-inv-c", "ml-list-d"):
            s3.create_bucket(Bucket=bucket)
            if bucket.startswith("ml-"):
                s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        for bucket, count in (("ml-inv-a", 6), ("ml-inv-b", 4), ("ml-inv-c", 5), ("ml-list-d", 6)):
            objects[bucket] = train(bucket, count)
            for key, size, _, _ in objects[bucket]:
                s3.put_object(Bucket=bucket, Key=key, Body=b"\0" * size)
        s3.put_object_tagging(Bucket="ml-inv-a", Key=objects["ml-inv-a"][0][0],
                              Tagging={"TagSet": [{"Key": "team", "Value": "vision"}]})
        for bucket in ("ml-inv-a", "ml-inv-b", "ml-inv-c"):
            inventory.configure(s3, bucket, INVENTORIES)
        inventory.publish(s3, "ml-inv-a", INVENTORIES, objects["ml-inv-a"], DAY_ONE, files=2)
        inventory.publish(s3, "ml-inv-b", INVENTORIES, objects["ml-inv-b"], DAY_ONE,
                          extra_files=[("gone.csv.gz", None), ("corrupt.csv.gz", corrupt_rows("ml-inv-b"))])
        inventory.publish(s3, "ml-inv-c", INVENTORIES, objects["ml-inv-c"], DAY_ONE)
        batch_ext.FAIL_AFTER["ml-inv-c"] = 2  # its job fails after two objects
        emulator.run_schedule("StorageSweepStateMachineDaily")
        first = {bucket: bucket_decisions(emulator, bucket) for bucket in objects}
        jobs = dict(batch_ext.JOBS)
        tags_after_first = {key: tags("ml-inv-c", key) for key, *_ in objects["ml-inv-c"]}
        batch_ext.FAIL_AFTER.clear()
        seen = len(emulator.decisions)
        inventory.publish(s3, "ml-inv-c", INVENTORIES, objects["ml-inv-c"], DAY_ONE + timedelta(days=1))
        emulator.run_schedule("StorageSweepStateMachineDaily")
        second = [d for d in emulator.decisions[seen:] if d.resource.startswith("arn:aws:s3:::ml-inv-c")]
        yield {"emulator": emulator, "objects": objects, "first": first, "second": second, "jobs": jobs,
               "tags_after_first": tags_after_first}


def test_a_bucket_is_swept_from_its_inventory_with_one_decision_per_class_and_prefix(swept: dict[str, Any]) -> None:
    [decision] = swept["first"]["ml-inv-a"]  # never one per object
    assert decision.resource == "arn:aws:s3:::ml-inv-a" and decision.action == "batch-tag" and decision.applied
    assert decision.target == {"storage_class": "ONEZONE_IA", "prefix": "datasets/train/"}
    assert decision.figures["objects"] == 6 and decision.figures["size_bytes"] == 6 * SIZE
    assert decision.savings.usd_per_month > 0
    job = swept["jobs"][decision.figures["batch_job_id"]]
    assert job["Status"] == "Complete" and job["ProgressSummary"]["NumberOfTasksSucceeded"] == 6
    assert "StorageTagMergeFunction" in job["Operation"]["LambdaInvoke"]["FunctionArn"]
    for key, *_ in swept["objects"]["ml-inv-a"][1:]:
        assert tags("ml-inv-a", key) == {"greenrail:storage-class": "ONEZONE_IA"}


def test_an_object_with_tags_keeps_them_through_the_merge_job(swept: dict[str, Any]) -> None:
    key = swept["objects"]["ml-inv-a"][0][0]
    assert tags("ml-inv-a", key) == {"team": "vision", "greenrail:storage-class": "ONEZONE_IA"}
    [decision] = swept["first"]["ml-inv-a"]
    manifest = client("s3").get_object(Bucket=MANIFESTS, Key=decision.figures["manifest"].split("/", 3)[3])
    assert key.replace(" ", "%20") in manifest["Body"].read().decode()  # merge: with or without tags


def test_a_gone_file_and_a_corrupt_file_are_one_decision_and_the_rest_is_swept(swept: dict[str, Any]) -> None:
    decisions = swept["first"]["ml-inv-b"]
    [tagged] = [d for d in decisions if d.action == "batch-tag"]
    assert tagged.figures["objects"] == 4
    [failure] = [d for d in decisions if d.error]
    assert failure.error == "InventoryIncomplete" and failure.action == "none"
    assert failure.figures["files_gone"] == ["inventory/ml-inv-b/daily/data/gone.csv.gz"]
    assert failure.figures["batches_failed"] == 1 and failure.figures["rows_not_decided"] == 2
    for key, *_ in swept["objects"]["ml-inv-b"]:
        assert tags("ml-inv-b", key) == {"greenrail:storage-class": "ONEZONE_IA"}


def test_a_batch_job_that_fails_part_way_names_the_objects_and_the_next_sweep_tags_them(swept: dict[str, Any]) -> None:
    [first] = swept["first"]["ml-inv-c"]
    job = swept["jobs"][first.figures["batch_job_id"]]
    assert job["Status"] == "Failed" and job["ProgressSummary"]["NumberOfTasksFailed"] == 3
    report = client("s3").get_object(Bucket=MANIFESTS, Key=job["ReportKey"])["Body"].read().decode()
    failed = sorted(line.split(",")[1].replace("%20", " ") for line in report.splitlines())
    untagged = sorted(key for key, found in swept["tags_after_first"].items() if not found)
    assert failed == untagged and len(failed) == 3
    [second] = swept["second"]
    assert second.figures["objects"] == 3  # only those: the others are already tagged
    for key, *_ in swept["objects"]["ml-inv-c"]:
        assert tags("ml-inv-c", key) == {"greenrail:storage-class": "ONEZONE_IA"}


def test_a_bucket_without_inventory_above_the_threshold_gets_one_recommendation(swept: dict[str, Any]) -> None:
    [decision] = swept["first"]["ml-list-d"]
    assert decision.action == "recommend-inventory" and decision.applied
    assert tags("ml-list-d", swept["objects"]["ml-list-d"][0][0]) == {}  # not listed object by object
    [configuration] = client("s3").list_bucket_inventory_configurations(Bucket="ml-list-d")["InventoryConfigurationList"]
    assert configuration["Id"] == "greenrail" and "StorageClass" in configuration["OptionalFields"]
    assert not [d for d in swept["emulator"].decisions if d.resource.startswith("arn:aws:s3:::ml-list-d/")]
