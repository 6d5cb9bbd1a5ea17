"""The blast radius against moto's DynamoDB: a slot per subject (a resource and its state) per hour."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws
from greenrail.state import BlastRadius

TABLE = "greenrail-state"
HOUR = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
KEY = {"id": {"S": "blast-radius#training#2026-11-30T09"}}
STOP_A = "arn:aws:sagemaker:us-east-1:123456789012:training-job/a#stop"
STOP_B = "arn:aws:sagemaker:us-east-1:123456789012:training-job/b#stop"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("GREENRAIL_STATE_TABLE", TABLE)
    with mock_aws():
        aws.reset_clients()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb
    aws.reset_clients()


def counter(dynamodb: Any) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)["Item"]
    return item


def test_the_same_subject_holds_one_slot(table: Any) -> None:
    blast = BlastRadius("training", cap=1)
    assert blast.acquire(STOP_A, now=HOUR) is True
    assert blast.acquire(STOP_A, now=HOUR) is True  # the retry: the slot it already holds
    assert BlastRadius("training", cap=1).acquire(STOP_A, now=HOUR) is True  # another invocation's retry
    item = counter(table)
    assert item["count"] == {"N": "1"} and len(item["holders"]["SS"]) == 1


def test_another_subject_at_the_cap_is_refused(table: Any) -> None:
    blast = BlastRadius("training", cap=1)
    assert blast.acquire(STOP_A, now=HOUR) is True
    assert blast.acquire(STOP_B, now=HOUR) is False
    assert blast.acquire(STOP_A, now=HOUR) is True  # the holder keeps its slot at the cap
    assert counter(table)["count"] == {"N": "1"}
    # the next hour has its own slots
    assert blast.acquire(STOP_B, now=HOUR.replace(hour=10)) is True


def test_below_the_cap_each_subject_takes_a_slot(table: Any) -> None:
    blast = BlastRadius("training", cap=3)
    assert [blast.acquire(s, now=HOUR) for s in (STOP_A, STOP_B, STOP_A, STOP_B)] == [True] * 4
    assert counter(table)["count"] == {"N": "2"}


def test_holders_that_no_longer_fit_the_item_are_counted_without_them(
    table: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A cap in the tens of thousands: once the hour's holders fill DynamoDB's 400 KB item (moto
    does not check the size of an ADD to a set: DynamoDB's answer is injected), slots are still
    counted and capped, only without their holder."""
    from botocore.awsrequest import AWSResponse

    def item_full(params: dict[str, Any], **_: Any) -> Any:
        body = params.get("body") or b""
        if b"holders" not in (body if isinstance(body, bytes) else str(body).encode()):
            return None  # the count-only update goes through
        error = {"Code": "ValidationException", "Message": "Item size to update has exceeded the maximum allowed size"}
        return AWSResponse("https://dynamodb", 400, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    aws.client("dynamodb").meta.events.register("before-call.dynamodb.UpdateItem", item_full)
    blast = BlastRadius("training", cap=2)
    assert blast.acquire(STOP_A, now=HOUR) is True
    assert "holders no longer fit the counter item" in caplog.text
    assert blast.acquire(STOP_B, now=HOUR) is True
    assert blast.acquire(STOP_A, now=HOUR) is False  # counted without holders: the cap still holds
    assert counter(table) == {**KEY, "count": {"N": "2"}, "expiration": counter(table)["expiration"]}


def test_without_a_table_subjects_are_counted_in_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENRAIL_STATE_TABLE", raising=False)
    blast = BlastRadius("storage", cap=1)
    assert blast.acquire("ml-data/a.csv#etag-1#GLACIER_IR") is True
    assert blast.acquire("ml-data/a.csv#etag-1#GLACIER_IR") is True
    assert blast.acquire("ml-data/b.csv#etag-2#GLACIER_IR") is False
    assert BlastRadius("storage", cap=0).acquire("ml-data/a.csv#etag-1#GLACIER_IR") is False
