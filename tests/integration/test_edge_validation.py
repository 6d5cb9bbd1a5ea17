"""Accounts, regions, bucket names and keys are validated where events come in (the issue "Hardening"):
a malformed value is a malformed event (logged, counted, dropped), never an action in Greenrail's
own account nor a crash in botocore."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from greenrail import validation
from tests.conftest import Context
from tests.integration.handler_world import (
    ACCOUNT,
    COMPLETED_EVENT,
    DECISION_EVENT,
    INPROGRESS_EVENT,
    S3_EVENT,
    WATCHED_JOB,
    World,
    shared_world_fixture,  # noqa: F401 - the fixtures
    world_fixture,  # noqa: F401
)

GARBAGE_ACCOUNT = "not-an-account ü"


def changed(edit: Any, event: dict[str, Any]) -> dict[str, Any]:
    mutated = copy.deepcopy(event)
    edit(mutated)
    return mutated


def run(world: World, handler: str, event: Any, capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    capsys.readouterr()
    before = world.snapshot()
    result = world.handlers[handler].handler(event, Context())
    after = world.snapshot()
    assert after == before, f"{handler} changed {[k for k in before if before[k] != after[k]]}"
    assert world.received(world.decisions) == 0 and world.received(world.notifications) == 0
    return result, capsys.readouterr().out


@pytest.mark.parametrize(("field", "value"), [
    ("account", GARBAGE_ACCOUNT), ("account", "12345678901"), ("account", "١٢٣٤٥٦٧٨٩٠١٢"),
    ("account", ACCOUNT + "\n"), ("region", "mars-north-1"), ("region", "aws-global"),
])
def test_an_s3_event_from_no_real_account_or_region_is_malformed(
        world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, field: str, value: str) -> None:
    result, out = run(world, "storage_object", {**S3_EVENT, field: value}, capsys)
    assert result["status"] == "malformed" and [p["field"] for p in result["problems"]] == [field]
    assert '"MalformedEvent"' in out and value not in caplog.text


@pytest.mark.parametrize(("name", "key"), [
    ("Bad_Bucket Name", "k"), ("ab", "k"), ("a" * 64, "k"), ("-bucket", "k"), ("bucket-", "k"), ("a..b", "k"),
    ("192.168.1.10", "k"), ("Acme-ml-datasets", "k"), ("acme-ml-datasets", "k" * 1025),
    ("acme-ml-datasets", "ü" * 513), ("acme-ml-datasets", "\ud800"),
])
def test_bucket_names_and_keys_s3_would_never_send_are_malformed(
        world: World, capsys: pytest.CaptureFixture[str], name: str, key: str) -> None:
    event = changed(lambda e: e["detail"].update(bucket={"name": name}, object={**e["detail"]["object"], "key": key}),
                    S3_EVENT)
    result, out = run(world, "storage_object", event, capsys)
    assert result["status"] == "malformed" and '"MalformedEvent"' in out


def test_the_longest_names_s3_allows_are_accepted(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    event = changed(lambda e: e["detail"].update(bucket={"name": "a.b-" + "c" * 59}, object={"key": "ü" * 512}),
                    S3_EVENT)
    assert world.handlers["storage_object"].handler(event, Context())["status"] == "gone"  # no such bucket


@pytest.mark.parametrize("event", [
    {"account": 12345}, {"account": 123456789012}, {"account": GARBAGE_ACCOUNT}, {"account": None},
    {"account": ""}, {"account": [ACCOUNT]}, {"plan": "yes"}, None, [], ACCOUNT, 7,
])
def test_the_sweep_refuses_anything_but_a_twelve_digit_account(
        world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, event: Any) -> None:
    report, out = run(world, "storage_sweep", event, capsys)
    assert report["status"] == "malformed" and report["buckets"] == {} and report["account"] is None
    assert '"MalformedEvent"' in out and GARBAGE_ACCOUNT not in caplog.text


def test_the_sweep_without_an_account_sweeps_this_one(world: World) -> None:
    report = world.handlers["storage_sweep"].handler({}, Context())
    assert report["status"] == "swept" and report["account"] == ACCOUNT
    assert world.handlers["storage_sweep"].handler({"plan": True}, Context()) == {"targets": [{"account": ACCOUNT}]}


@pytest.mark.parametrize("edit", [
    lambda e: e.update(account=GARBAGE_ACCOUNT),
    lambda e: e.update(region="moon-1"),
    lambda e: e["detail"].update(TrainingJobArn=e["detail"]["TrainingJobArn"].replace(ACCOUNT, GARBAGE_ACCOUNT)),
    lambda e: e["detail"].update(TrainingJobArn=e["detail"]["TrainingJobArn"].replace(ACCOUNT, "1234")),
    lambda e: e["detail"].update(TrainingJobArn=e["detail"]["TrainingJobArn"].replace("us-east-1", "mars-1")),
    lambda e: e["detail"].update(TrainingJobArn="arn:aws:sagemaker:"),
    lambda e: e["detail"].update(TrainingJobName="a b"),
])
def test_a_training_event_from_no_real_account_starts_no_watch(
        world: World, capsys: pytest.CaptureFixture[str], edit: Any) -> None:
    result, out = run(world, "training_watch_start", changed(edit, INPROGRESS_EVENT), capsys)
    assert result == {"started": False, "reason": "malformed or foreign event"}
    assert '"MalformedTrainingEvent"' in out


@pytest.mark.parametrize("job_arn", [
    f"arn:aws:sagemaker:us-east-1:{GARBAGE_ACCOUNT}:training-job/{WATCHED_JOB}",
    f"arn:aws:sagemaker:nowhere-1:{ACCOUNT}:training-job/{WATCHED_JOB}",
    "not an arn",
])
def test_a_watch_turn_for_no_real_account_stops_nothing(
        world: World, capsys: pytest.CaptureFixture[str], job_arn: str) -> None:
    result, out = run(world, "training_evaluate",
                      {"job_name": WATCHED_JOB, "job_arn": job_arn, "previous_action": "none"}, capsys)
    assert result["status"] == "InvalidInput" and result["done"] and '"InvalidWatchInput"' in out


def test_a_finished_job_event_from_no_real_region_records_nothing(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    result, out = run(world, "carbon_record", {**COMPLETED_EVENT, "region": "not-a-region ü"}, capsys)
    assert result["status"] == "ignored" and '"MalformedEvents"' in out


@pytest.mark.parametrize("handler", ["notifier", "auditor"])
@pytest.mark.parametrize(("field", "value"), [("account", GARBAGE_ACCOUNT), ("region", "us-east-1 ü")])
def test_a_decision_about_no_real_account_is_neither_notified_nor_a_finding(
        world: World, capsys: pytest.CaptureFixture[str], handler: str, field: str, value: str) -> None:
    event = changed(lambda e: e["detail"].update({field: value}), DECISION_EVENT)
    result, out = run(world, handler, event, capsys)
    assert result["status"] == "malformed" and '"MalformedDecision"' in out


def test_the_sample_events_are_valid_and_act(world: World) -> None:
    """The fixtures above are meaningful: the unmutated events change what they are about."""
    assert world.handlers["storage_object"].handler(S3_EVENT, Context())["decision"]["applied"]
    assert world.received(world.decisions) == 1
    world.reset()
    evaluate = world.handlers["training_evaluate"]
    assert evaluate.handler({"job_name": WATCHED_JOB, "job_arn": world.job_arn}, Context())["applied"]
    assert world.handlers["training_watch_start"].handler(INPROGRESS_EVENT, Context())["started"]
    assert world.handlers["carbon_record"].handler(COMPLETED_EVENT, Context())["status"] == "decided"
    assert world.handlers["auditor"].handler(DECISION_EVENT, Context())["imported"] == 1
    assert world.handlers["notifier"].handler(DECISION_EVENT, Context())["status"] == "notified"


def test_known_regions_come_from_botocore_for_the_three_partitions() -> None:
    regions = validation.known_regions()
    assert {"us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "cn-northwest-1", "us-gov-west-1",
            "us-gov-east-1"} <= regions
    assert not {"aws-global", "aws-cn-global", "us-iso-east-1", "local", ""} & regions
    assert validation.known_regions() is regions  # computed once
    assert validation.is_account_id(ACCOUNT) and not validation.is_account_id(int(ACCOUNT))
