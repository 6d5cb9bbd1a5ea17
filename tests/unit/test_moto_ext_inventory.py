"""The emulator's Distributed Map extensions (ItemReader MANIFEST, ItemBatcher, tolerated failures,
ResultWriter) and S3 Batch Operations jobs that run, on a bare moto (no template deployed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail_cli.emulator import inventory
from greenrail_cli.emulator.clock import Clock
from greenrail_cli.emulator.moto_ext import s3control as batch_ext
from greenrail_cli.emulator.runtime import LambdaRuntime

TAKEN = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
OBJECTS = [(f"data/train/part {i}.bin", 1000 + i, "STANDARD", f"etag{i}") for i in range(5)]


@pytest.fixture(scope="module")
def moto() -> Iterator[dict[str, Any]]:
    from greenrail_cli.emulator import moto_ext

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        moto_ext.apply(LambdaRuntime(), Clock())
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("src", "inv", "out"):
            s3.create_bucket(Bucket=bucket)
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        yield {"s3": s3, "sfn": boto3.client("stepfunctions", region_name="us-east-1"), "role": role}


def machine(moto: dict[str, Any], name: str, child: dict[str, Any], tolerated: int = 0) -> str:
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "MANIFEST"},
                       "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"}},
        "ItemBatcher": {"MaxItemsPerBatchPath": "$.per_batch", "BatchInput": {"run.$": "$.run"}},
        "ToleratedFailurePercentage": tolerated,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "C", "States": child},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket": "out", "Prefix.$": "$.run"}},
        "End": True}}}
    return str(moto["sfn"].create_state_machine(name=name, definition=json.dumps(definition),
                                                roleArn=moto["role"])["stateMachineArn"])


def run(moto: dict[str, Any], arn: str, payload: dict[str, Any]) -> dict[str, Any]:
    execution = moto["sfn"].start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + 20
    while (result := moto["sfn"].describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return dict(result)


def results(moto: dict[str, Any], output: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    details = output["ResultWriterDetails"]
    manifest = json.loads(moto["s3"].get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read())
    return {status: [entry for file in files for entry in json.loads(
                moto["s3"].get_object(Bucket="out", Key=file["Key"])["Body"].read())]
            for status, files in manifest["ResultFiles"].items()}


PASS = {"C": {"Type": "Pass", "End": True}}


def test_manifest_rows_in_batches_with_their_batch_input_and_results_in_s3(moto: dict[str, Any]) -> None:
    key = inventory.publish(moto["s3"], "src", "inv", OBJECTS, TAKEN, files=2)
    arn = machine(moto, "manifest-csv", PASS)
    done = run(moto, arn, {"bucket": "inv", "key": key, "per_batch": 2, "run": "r1"})
    assert done["status"] == "SUCCEEDED", done
    written = results(moto, json.loads(done["output"]))
    batches = [json.loads(entry["Input"]) for entry in written["SUCCEEDED"]]
    assert [len(batch["Items"]) for batch in batches] == [2, 2, 1] and written["FAILED"] == []
    assert {batch["BatchInput"]["run"] for batch in batches} == {"r1"}
    first = batches[0]["Items"][0]  # named by fileSchema, CSV strings, the key URL-encoded as S3 writes it
    assert first == {"Bucket": "src", "Key": "data/train/part%200.bin", "Size": "1000",
                     "LastModifiedDate": "2026-11-01T00:00:00.000Z", "StorageClass": "STANDARD", "ETag": "etag0"}


def test_a_file_the_manifest_lists_that_is_gone_fails_the_item_reader(moto: dict[str, Any]) -> None:
    key = inventory.publish(moto["s3"], "src", "inv", OBJECTS, TAKEN.replace(hour=2), extra_files=[("gone.csv.gz", None)])
    done = run(moto, machine(moto, "manifest-gone", PASS), {"bucket": "inv", "key": key, "per_batch": 10, "run": "r2"})
    assert (done["status"], done["error"]) == ("FAILED", "States.ItemReaderFailed")
    assert "gone.csv.gz" in done["cause"]


def test_a_corrupt_file_fails_the_item_reader(moto: dict[str, Any]) -> None:
    key = inventory.publish(moto["s3"], "src", "inv", OBJECTS, TAKEN.replace(hour=3),
                            extra_files=[("corrupt.csv.gz", b"not gzip at all")])
    done = run(moto, machine(moto, "manifest-corrupt", PASS), {"bucket": "inv", "key": key, "per_batch": 10, "run": "r3"})
    assert (done["status"], done["error"]) == ("FAILED", "States.ItemReaderFailed")


FAIL_SECOND = {
    "C": {"Type": "Pass", "Parameters": {"first.$": "States.ArrayGetItem($.Items, 0)"}, "Next": "D"},
    "D": {"Type": "Choice", "Choices": [{"Variable": "$.first.Key", "StringEquals": "data/train/part%202.bin",
                                         "Next": "F"}], "Default": "P"},
    "F": {"Type": "Fail", "Error": "Corrupt", "Cause": "bad rows"},
    "P": {"Type": "Pass", "End": True},
}


def test_failed_batches_within_the_tolerance_are_written_as_failed_the_others_go_on(moto: dict[str, Any]) -> None:
    key = inventory.publish(moto["s3"], "src", "inv", OBJECTS, TAKEN.replace(hour=4))
    done = run(moto, machine(moto, "tolerant", FAIL_SECOND, tolerated=50),
               {"bucket": "inv", "key": key, "per_batch": 2, "run": "r4"})
    assert done["status"] == "SUCCEEDED", done
    written = results(moto, json.loads(done["output"]))
    assert len(written["SUCCEEDED"]) == 2
    [failed] = written["FAILED"]
    assert (failed["Error"], failed["Cause"]) == ("Corrupt", "bad rows")
    assert failed["Status"] == "FAILED"
    assert [row["Key"] for row in json.loads(failed["Input"])["Items"]] == ["data/train/part%202.bin", "data/train/part%203.bin"]


def test_failures_above_the_tolerance_fail_the_map_run(moto: dict[str, Any]) -> None:
    key = inventory.publish(moto["s3"], "src", "inv", OBJECTS, TAKEN.replace(hour=5))
    done = run(moto, machine(moto, "intolerant", FAIL_SECOND, tolerated=10),
               {"bucket": "inv", "key": key, "per_batch": 2, "run": "r5"})
    assert (done["status"], done["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")


def test_parquet_inventories_are_read_too(moto: dict[str, Any]) -> None:
    # pyarrow is in the dev extra: `make test` always has it, so this test never skips
    key = inventory.publish(moto["s3"], "src", "inv", OBJECTS, TAKEN.replace(hour=6), fmt="Parquet")
    done = run(moto, machine(moto, "parquet", PASS), {"bucket": "inv", "key": key, "per_batch": 10, "run": "r6"})
    [entry] = results(moto, json.loads(done["output"]))["SUCCEEDED"]
    rows = json.loads(entry["Input"])["Items"]
    assert [(row["key"], row["size"]) for row in rows] == [(k, s) for k, s, _, _ in OBJECTS]


def test_batch_operations_job_runs_when_confirmed_replacing_tag_sets_and_reports_failures(moto: dict[str, Any]) -> None:
    s3, s3control = moto["s3"], boto3.client("s3control", region_name="us-east-1")
    for key, *_ in OBJECTS:
        s3.put_object(Bucket="src", Key=key, Body=b"x", Tagging="old=1")
    s3.put_object(Bucket="out", Key="m.csv", Body="".join(f"src,{k.replace(' ', '%20')}\n" for k, *_ in OBJECTS).encode())
    batch_ext.FAIL_AFTER["src"] = 3  # the job fails part-way: the last two tasks fail
    job_id = s3control.create_job(
        AccountId="123456789012", ConfirmationRequired=True, RoleArn=moto["role"], Priority=1,
        Operation={"S3PutObjectTagging": {"TagSet": [{"Key": "k", "Value": "v"}]}},
        Manifest={"Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
                  "Location": {"ObjectArn": "arn:aws:s3:::out/m.csv", "ETag": "e"}},
        Report={"Bucket": "arn:aws:s3:::out", "Prefix": "reports", "Format": "Report_CSV_20180820", "Enabled": True,
                "ReportScope": "FailedTasksOnly"}, ClientRequestToken="job-run")["JobId"]
    assert s3.get_object_tagging(Bucket="src", Key=OBJECTS[0][0])["TagSet"] == [{"Key": "old", "Value": "1"}]
    s3control.update_job_status(AccountId="123456789012", JobId=job_id, RequestedJobStatus="Ready")
    job = s3control.describe_job(AccountId="123456789012", JobId=job_id)["Job"]
    batch_ext.FAIL_AFTER.clear()
    assert job["Status"] == "Failed"
    assert job["ProgressSummary"] == {"TotalNumberOfTasks": 5, "NumberOfTasksSucceeded": 3, "NumberOfTasksFailed": 2}
    # S3PutObjectTagging replaces the whole tag set: why Greenrail never sends a tagged object
    assert s3.get_object_tagging(Bucket="src", Key=OBJECTS[0][0])["TagSet"] == [{"Key": "k", "Value": "v"}]
    assert s3.get_object_tagging(Bucket="src", Key=OBJECTS[4][0])["TagSet"] == [{"Key": "old", "Value": "1"}]
    report = s3.get_object(Bucket="out", Key=f"reports/job-{job_id}/results/0.csv")["Body"].read().decode()
    assert [line.split(",")[:4] for line in report.splitlines()] == [
        ["src", "data/train/part%203.bin", "", "failed"], ["src", "data/train/part%204.bin", "", "failed"]]
