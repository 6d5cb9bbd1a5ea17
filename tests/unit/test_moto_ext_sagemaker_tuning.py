"""The emulator's tuning, processing and warm-pool extension answers as SageMaker does at the edges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenrail_cli.emulator.moto_ext import sagemaker_training, sagemaker_tuning

ROLE = "arn:aws:iam::123456789012:role/sm"


@pytest.fixture(scope="module")
def sm() -> Iterator[Any]:
    sagemaker_training.apply()
    with mock_aws():
        yield boto3.client("sagemaker", region_name="us-east-1")


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_tuning_children_are_paged_and_a_stop_goes_through_stopping(sm: Any) -> None:
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="t1",
        HyperParameterTuningJobConfig={"Strategy": "Random", "ResourceLimits": {"MaxNumberOfTrainingJobs": 300,
                                                                               "MaxParallelTrainingJobs": 2}},
        TrainingJobDefinition={"AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "File"},
                               "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": "s3://o/"},
                               "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
                               "StoppingCondition": {"MaxRuntimeInSeconds": 3600}})
    sagemaker_tuning.launch_children("t1", 150, running=2)
    first = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="t1", MaxResults=100)
    second = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="t1", MaxResults=100,
                                                                  NextToken=first["NextToken"])
    assert len(first["TrainingJobSummaries"]) == 100 and len(second["TrainingJobSummaries"]) == 50
    assert "NextToken" not in second
    with pytest.raises(ClientError) as too_many:
        sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="t1", MaxResults=101)
    assert code(too_many) == "ValidationException"
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="t1")
    assert described["HyperParameterTuningJobStatus"] == "InProgress"
    assert described["TrainingJobStatusCounters"]["Completed"] == 148
    [record] = [r["HyperParameterTuningJob"] for r in sm.search(Resource="HyperParameterTuningJob", SearchExpression={
        "Filters": [{"Name": "HyperParameterTuningJobStatus", "Operator": "Equals", "Value": "InProgress"}]})["Results"]]
    assert record["HyperParameterTuningJobName"] == "t1"
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="t1")
    with pytest.raises(ClientError) as again:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="t1")
    assert code(again) == "ValidationException"
    statuses = [sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="t1")
                ["HyperParameterTuningJobStatus"] for _ in range(2)]
    assert statuses == ["Stopping", "Stopped"]
    with pytest.raises(ClientError) as unknown:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
    assert code(unknown) == "ResourceNotFound"


def test_processing_jobs_run_keep_their_resources_and_stop_only_in_progress(sm: Any) -> None:
    sm.create_processing_job(ProcessingJobName="p1", RoleArn=ROLE, AppSpecification={"ImageUri": "i"},
                             ProcessingResources={"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge",
                                                                    "VolumeSizeInGB": 30}})
    described = sm.describe_processing_job(ProcessingJobName="p1")
    assert described["ProcessingJobStatus"] == "InProgress"
    assert described["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    assert [s["ProcessingJobName"] for s in sm.list_processing_jobs(StatusEquals="InProgress")
            ["ProcessingJobSummaries"]] == ["p1"]
    sm.stop_processing_job(ProcessingJobName="p1")
    assert [sm.describe_processing_job(ProcessingJobName="p1")["ProcessingJobStatus"] for _ in range(2)] == \
        ["Stopping", "Stopped"]
    with pytest.raises(ClientError) as stopped:
        sm.stop_processing_job(ProcessingJobName="p1")
    assert code(stopped) == "ValidationException"


def test_a_warm_pool_is_available_until_released_or_expired(sm: Any) -> None:
    for name, minutes in (("w1", 10), ("w2", 90)):
        sm.create_training_job(
            TrainingJobName=name, AlgorithmSpecification={"TrainingImage": "i", "TrainingInputMode": "File"},
            RoleArn=ROLE, OutputDataConfig={"S3OutputPath": "s3://o/"}, StoppingCondition={"MaxRuntimeInSeconds": 60},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30,
                            "KeepAlivePeriodInSeconds": 3600})
        end = datetime.now(UTC) - timedelta(minutes=minutes)
        sagemaker_training.set_training_job_status(name, "Completed", start_time=end - timedelta(hours=1), end_time=end)
    assert sm.describe_training_job(TrainingJobName="w1")["WarmPoolStatus"]["Status"] == "Available"
    assert sm.describe_training_job(TrainingJobName="w2")["WarmPoolStatus"]["Status"] == "Terminated"  # expired
    listed = sm.list_training_jobs(WarmPoolStatusEquals="Available")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in listed] == ["w1"]
    sm.update_training_job(TrainingJobName="w1", ResourceConfig={"KeepAlivePeriodInSeconds": 0})
    assert sm.describe_training_job(TrainingJobName="w1")["WarmPoolStatus"]["Status"] == "Terminated"
    with pytest.raises(ClientError) as gone:
        sm.update_training_job(TrainingJobName="w1", ResourceConfig={"KeepAlivePeriodInSeconds": 0})
    assert code(gone) == "ValidationException"
