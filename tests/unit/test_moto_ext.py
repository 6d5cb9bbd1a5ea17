"""Greenrail's moto extensions (greenrail/emulator/moto_ext): each gap they fill, on its own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws
from greenrail_cli.emulator import moto_ext
from greenrail_cli.emulator.clock import Clock
from greenrail_cli.emulator.moto_ext import hooks
from greenrail_cli.emulator.runtime import FunctionSpec, LambdaRuntime

HANDLER = '''
import os
SEEN = []
def handler(event, context):
    SEEN.append((event, os.environ.get("MARK")))
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"echo": event, "mark": os.environ.get("MARK")}
'''


@pytest.fixture
def emulated(tmp_path: Path) -> Iterator[dict[str, Any]]:
    (tmp_path / "app.py").write_text(HANDLER)
    runtime, clock = LambdaRuntime(), Clock()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        moto_ext.apply(runtime, clock)
        aws.reset_clients()
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        arn = boto3.client("lambda").create_function(
            FunctionName="fn", Runtime="python3.12", Role=role, Handler="app.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18})["FunctionArn"]
        runtime.register(FunctionSpec("Fn", "fn", arn, tmp_path, "app.handler", {"MARK": "from-template"},
                                      max_retry_attempts=2))
        yield {"runtime": runtime, "clock": clock, "arn": arn, "role": role}


def test_eventbridge_delivers_to_lambda_with_account(emulated: dict[str, Any]) -> None:
    events = boto3.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["acme"]}))
    events.put_targets(Rule="r", Targets=[{"Id": "1", "Arn": emulated["arn"]}])
    events.put_events(Entries=[{"Source": "acme", "DetailType": "t", "Detail": "{\"a\": 1}"}])
    assert emulated["runtime"].run_pending() == 1
    [invocation] = emulated["runtime"].invocations
    assert invocation.ok and invocation.event["account"] == "123456789012" and invocation.event["detail"] == {"a": 1}
    assert invocation.result["mark"] == "from-template"  # the function's own environment
    assert hooks.event_log[-1][0] == "default"


def test_async_failures_are_retried_then_dead_lettered(emulated: dict[str, Any]) -> None:
    runtime = emulated["runtime"]
    runtime.invoke_async("fn", {"fail": True})
    runtime.run_pending()
    assert len(runtime.invocations) == 3  # the first try and Lambda's two retries
    [(name, event, error)] = runtime.dead_letters
    assert name == "fn" and event == {"fail": True} and "asked to fail" in error


def test_lambda_invoke_runs_the_real_handler(emulated: dict[str, Any]) -> None:
    response = boto3.client("lambda").invoke(FunctionName="fn", Payload=json.dumps({"x": 1}))
    assert json.loads(response["Payload"].read()) == {"echo": {"x": 1}, "mark": "from-template"}
    failed = boto3.client("lambda").invoke(FunctionName="fn", Payload=json.dumps({"fail": True}))
    assert "FunctionError" in failed and json.loads(failed["Payload"].read())["errorType"] == "RuntimeError"


def test_s3_eventbridge_notification_has_the_documented_shape_and_goes_to_default_only(emulated: dict[str, Any]) -> None:
    events = boto3.client("events")
    events.create_event_bus(Name="other")
    for bus in ("default", "other"):
        events.put_rule(Name=f"s3-{bus}", EventBusName=bus, EventPattern=json.dumps({"source": ["aws.s3"]}))
        events.put_targets(Rule=f"s3-{bus}", EventBusName=bus, Targets=[{"Id": "1", "Arn": emulated["arn"]}])
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bucket-one")
    s3.put_bucket_notification_configuration(Bucket="bucket-one", NotificationConfiguration={"EventBridgeConfiguration": {}})
    etag = s3.put_object(Bucket="bucket-one", Key="a/b.txt", Body=b"hello")["ETag"].strip('"')
    emulated["runtime"].run_pending()
    [invocation] = emulated["runtime"].invocations
    detail = invocation.event["detail"]
    assert invocation.event["detail-type"] == "Object Created" and invocation.event["source"] == "aws.s3"
    assert detail["object"] == {**detail["object"], "key": "a/b.txt", "size": 5, "etag": etag}
    assert detail["reason"] == "PutObject" and detail["bucket"] == {"name": "bucket-one"}


def test_batch_operations_jobs_are_stored_awaiting_confirmation(emulated: dict[str, Any]) -> None:
    s3control = boto3.client("s3control")
    kwargs: dict[str, Any] = {
        "AccountId": "123456789012", "ConfirmationRequired": True, "RoleArn": emulated["role"], "Priority": 1,
        "Operation": {"S3PutObjectTagging": {"TagSet": [{"Key": "k", "Value": "v"}]}},
        "Manifest": {"Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
                     "Location": {"ObjectArn": "arn:aws:s3:::m/manifest.csv", "ETag": "e"}},
        "Report": {"Enabled": False}, "ClientRequestToken": "token-1",
    }
    job_id = s3control.create_job(**kwargs)["JobId"]
    assert s3control.create_job(**kwargs)["JobId"] == job_id  # same token, same job
    job = s3control.describe_job(AccountId="123456789012", JobId=job_id)["Job"]
    assert job["Status"] == "Suspended"
    assert job["Operation"]["S3PutObjectTagging"]["TagSet"] == [{"Key": "k", "Value": "v"}]


def test_wait_states_advance_the_clock_instead_of_sleeping(emulated: dict[str, Any]) -> None:
    advanced: list[int] = []
    emulated["clock"].listeners.append(advanced.append)
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "Next": "D"},
                                              "D": {"Type": "Succeed"}}}
    machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=emulated["role"])
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    assert advanced == [3600] and emulated["clock"].offset.total_seconds() == 3600
