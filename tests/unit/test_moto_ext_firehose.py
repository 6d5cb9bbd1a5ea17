"""moto_ext.firehose: the template's decision-log stream, delivered the way Firehose delivers it.

The stream is created with template.yaml's own ExtendedS3DestinationConfiguration (bucket and
role filled in); time is the emulator's clock, never a sleep.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail_cli.emulator.clock import Clock
from greenrail_cli.emulator.deploy import load_template
from greenrail_cli.emulator.moto_ext import firehose, hooks
from tests.conftest import ROOT

BUCKET = "decision-log"


def destination() -> dict[str, Any]:
    config: dict[str, Any] = load_template(ROOT / "template.yaml")["Resources"]["DecisionLogStream"]["Properties"][
        "ExtendedS3DestinationConfiguration"]
    config = {k: v for k, v in config.items() if k != "CloudWatchLoggingOptions"}
    return {**config, "BucketARN": f"arn:aws:s3:::{BUCKET}", "RoleARN": "arn:aws:iam::123456789012:role/delivery"}


@pytest.fixture
def stream() -> Iterator[str]:
    saved = hooks.clock
    hooks.clock = Clock()
    firehose.reset()
    firehose.apply()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("firehose").create_delivery_stream(
            DeliveryStreamName="log", DeliveryStreamType="DirectPut", ExtendedS3DestinationConfiguration=destination())
        yield "log"
    firehose.reset()
    hooks.clock = saved


def put(stream: str, *records: dict[str, Any] | bytes) -> None:
    data = [{"Data": r if isinstance(r, bytes) else json.dumps(r).encode()} for r in records]
    boto3.client("firehose").put_record_batch(DeliveryStreamName=stream, Records=data)


def objects() -> dict[str, list[str]]:
    s3 = boto3.client("s3")
    return {item["Key"]: gzip.decompress(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()).decode()
            .splitlines() for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_records_are_partitioned_by_policy_and_day_one_per_line_gzipped(stream: str) -> None:
    put(stream, {"policy": "storage", "decided_at": "2026-11-30T09:14:03.5Z", "resource": "a"},
        {"policy": "training", "decided_at": "2026-12-01T00:00:00Z", "resource": "b"},
        {"policy": "storage", "decided_at": "2026-11-30T23:59:59Z", "resource": "c"})

    found = {key.rsplit("/", 1)[0]: [json.loads(line)["resource"] for line in lines]
             for key, lines in objects().items()}
    assert found == {"decisions/policy=storage/year=2026/month=11/day=30": ["a", "c"],
                     "decisions/policy=training/year=2026/month=12/day=01": ["b"]}


def test_a_refused_write_is_retried_for_24_hours_then_dropped_and_counted(stream: str) -> None:
    assert hooks.clock is not None
    firehose.refuse_writes(BUCKET)
    put(stream, {"policy": "storage", "decided_at": "2026-11-30T09:00:00Z", "resource": "kept"})
    hooks.clock.advance(23 * 3600)
    firehose.retry_pending()
    assert objects() == {} and firehose.pending(stream) == 1  # still held, within the 24 hours
    put(stream, {"policy": "storage", "decided_at": "2026-11-30T10:00:00Z", "resource": "late"})
    hooks.clock.advance(2 * 3600)  # the first record is now 25 hours old

    firehose.refuse_writes(BUCKET, refuse=False)
    firehose.retry_pending()

    delivered = [json.loads(line)["resource"] for lines in objects().values() for line in lines]
    assert delivered == ["late"] and firehose.LOST == {stream: 1} and firehose.pending(stream) == 0


def test_records_without_partition_keys_go_to_the_error_prefix(stream: str) -> None:
    put(stream, b"not json", {"policy": "storage", "resource": "no date"})

    [(key, lines)] = objects().items()
    assert key.startswith("errors/partitioning-failed/year=")
    assert [json.loads(line)["errorCode"] for line in lines] == ["DynamicPartitioning.MetadataExtractionFailed"] * 2
