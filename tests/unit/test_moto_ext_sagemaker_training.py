"""The moto extension for SageMaker training jobs (moto 5.2.5 makes every job Completed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenrail_cli.emulator.moto_ext import sagemaker_training as ext


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    ext.apply()
    with mock_aws():
        yield boto3.client("sagemaker", region_name="us-east-1")


def create(sm: Any, name: str, tags: dict[str, str] | None = None) -> str:
    return sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/sm",
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 7200},
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )["TrainingJobArn"]


def test_apply_is_idempotent_and_jobs_start_in_progress(sm: Any) -> None:
    ext.apply()
    create(sm, "j1")
    job = sm.describe_training_job(TrainingJobName="j1")
    assert job["TrainingJobStatus"] == "InProgress" and job["SecondaryStatus"] == "Training"
    assert "TrainingEndTime" not in job


def test_stop_goes_stopping_then_stopped(sm: Any) -> None:
    create(sm, "j1")
    sm.stop_training_job(TrainingJobName="j1")
    assert sm.describe_training_job(TrainingJobName="j1")["TrainingJobStatus"] == "Stopping"
    stopped = sm.describe_training_job(TrainingJobName="j1")
    assert stopped["TrainingJobStatus"] == "Stopped" and "TrainingEndTime" in stopped
    assert ext.stop_calls("j1") == 1


def test_stop_errors_match_sagemaker(sm: Any) -> None:
    create(sm, "j1")
    sm.stop_training_job(TrainingJobName="j1")
    with pytest.raises(ClientError) as again:
        sm.stop_training_job(TrainingJobName="j1")
    assert again.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as missing:
        sm.stop_training_job(TrainingJobName="nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"
    assert ext.stop_calls("j1") == 1


def test_search_in_progress_with_tags_and_arn(sm: Any) -> None:
    arn = create(sm, "j1", {"greenrail:exempt": "true"})
    create(sm, "j2")
    ext.set_training_job_status("j2", "Completed")
    found = sm.search(
        Resource="TrainingJob",
        SearchExpression={
            "Filters": [{"Name": "TrainingJobStatus", "Operator": "Equals", "Value": "InProgress"}]
        },
        MaxResults=100,
    )["Results"]
    assert [r["TrainingJob"]["TrainingJobArn"] for r in found] == [arn]
    assert found[0]["TrainingJob"]["Tags"] == [{"Key": "greenrail:exempt", "Value": "true"}]


def test_set_status_backdates_and_event_shape(sm: Any) -> None:
    arn = create(sm, "j1", {"team": "ml"})
    start = datetime.now(UTC) - timedelta(hours=3)
    ext.set_training_job_status("j1", "InProgress", start_time=start, billable_seconds=600)
    job = sm.describe_training_job(TrainingJobName="j1")
    assert abs((job["TrainingStartTime"] - start).total_seconds()) < 1
    assert job["BillableTimeInSeconds"] == 600
    event = ext.training_job_state_change_event("j1")
    assert (
        event["source"] == "aws.sagemaker" and event["detail-type"] == "SageMaker Training Job State Change"
    )
    assert event["resources"] == [arn]
    detail = event["detail"]
    assert detail["TrainingJobStatus"] == "InProgress" and detail["Tags"] == {"team": "ml"}
    assert detail["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert detail["TrainingStartTime"] == str(int(start.timestamp() * 1000))
    ext.set_training_job_status("j1", "Completed")
    assert "TrainingEndTime" in ext.training_job_state_change_event("j1")["detail"]


def test_throttled_stops_fail_until_the_injected_faults_are_spent(sm: Any) -> None:
    from botocore.config import Config

    create(sm, "j1")
    ext.throttle_stops("j1", times=2)
    once = boto3.client("sagemaker", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            once.stop_training_job(TrainingJobName="j1")
        assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert sm.describe_training_job(TrainingJobName="j1")["TrainingJobStatus"] == "InProgress"
    assert ext.stop_calls("j1") == 0
    once.stop_training_job(TrainingJobName="j1")
    assert ext.stop_calls("j1") == 1


def test_a_model_card_created_without_tags_lists_none(sm: Any) -> None:
    arn = sm.create_model_card(ModelCardName="card", Content="{}", ModelCardStatus="Draft")["ModelCardArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []
