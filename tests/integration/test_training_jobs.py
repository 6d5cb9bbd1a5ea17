"""The training policy's tuning jobs, processing jobs, warm pools and data locality against moto
(with Greenrail's moto extensions): enforce stops and releases, dry-run changes nothing, a tuning
job's hundreds of training jobs are paged. (The scan contract: tests/e2e/test_scan_cli.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws
from greenrail.config import BlastRadiusCap
from greenrail.decision import Mode
from greenrail.flows.watch import turn, watch_step
from greenrail.policies.training import (
    TrainingPolicy,
    TuningRule,
    apply,
    evaluate,
    evaluate_processing,
)
from greenrail.training_tuning import evaluate as evaluate_tuning
from greenrail_cli.emulator.moto_ext import sagemaker_training, sagemaker_tuning

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENFORCE = TrainingPolicy(mode=Mode.ENFORCE, blast_radius=BlastRadiusCap(max_actions_per_hour=100),
                         tuning=TuningRule(default_budget_usd=50))
DRY_RUN = ENFORCE.model_copy(update={"mode": Mode.DRY_RUN})
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sm"


@pytest.fixture(scope="module")
def world() -> Iterator[None]:
    patch = pytest.MonkeyPatch()
    for key, value in {"GREENRAIL_STATE_TABLE": "greenrail-state", "GREENRAIL_BUS_NAME": "greenrail"}.items():
        patch.setenv(key, value)
    sagemaker_training.apply()
    aws.reset_clients()
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="greenrail-state", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        boto3.client("events").create_event_bus(Name="greenrail")
        yield
    aws.reset_clients()
    patch.undo()


def sm() -> Any:
    return boto3.client("sagemaker", region_name=REGION)


def create_tuning(name: str, children: int, running: int, tags: dict[str, str] | None = None) -> str:
    arn = sm().create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Random", "TrainingJobEarlyStoppingType": "Off",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 500, "MaxParallelTrainingJobs": running or 1},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"}},
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"}, "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://out/"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}},
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )["HyperParameterTuningJobArn"]
    sagemaker_tuning.launch_children(name, children, running=running, hours_each=0.5)
    return str(arn)


def tuning_status(name: str) -> str:
    return str(sm().describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
               ["HyperParameterTuningJobStatus"])


def test_a_runaway_tuning_job_with_hundreds_of_children_is_stopped_in_enforce(world: None) -> None:
    arn = create_tuning("hpo-runaway", 250, running=5, tags={"greenrail:budget-usd": "20"})
    dry = evaluate_tuning("hpo-runaway", DRY_RUN, job_arn=arn)
    assert dry.action == "stop" and dry.figures["children_read"] == 250  # three pages of 100
    assert not apply(dry, DRY_RUN).applied and tuning_status("hpo-runaway") == "InProgress"
    decision = apply(evaluate_tuning("hpo-runaway", ENFORCE, job_arn=arn), ENFORCE)
    assert decision.applied and decision.resource == arn and decision.figures["recommendations"][0] == \
        "recommend-bayesian"
    assert sagemaker_tuning.tuning_stop_calls("hpo-runaway") == 1
    assert tuning_status("hpo-runaway") == "Stopping"
    assert tuning_status("hpo-runaway") == "Stopped"
    children = sm().list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="hpo-runaway", MaxResults=100, NextToken="200")["TrainingJobSummaries"]
    assert {c["TrainingJobStatus"] for c in children} == {"Completed", "Stopped"}
    again = apply(evaluate_tuning("hpo-runaway", ENFORCE, job_arn=arn), ENFORCE)  # ended: never stopped twice
    assert again.action == "none" and sagemaker_tuning.tuning_stop_calls("hpo-runaway") == 1


def test_children_beyond_the_bound_are_flagged(world: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from greenrail.adapters import sagemaker as adapter

    arn = create_tuning("hpo-bounded", 120, running=0)
    monkeypatch.setattr(adapter, "MAX_CHILD_PAGES", 1)
    decision = evaluate_tuning("hpo-bounded", DRY_RUN, job_arn=arn)
    assert decision.figures["children_read"] == 100 and decision.figures["children_truncated"]


def create_processing(name: str, cpu_percent: float | None, hosts: int = 2, hours: float = 3.0) -> str:
    arn = sm().create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE, AppSpecification={"ImageUri": "img:1"},
        ProcessingResources={"ClusterConfig": {"InstanceCount": hosts, "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 30}},
        StoppingCondition={"MaxRuntimeInSeconds": 86400})["ProcessingJobArn"]
    sagemaker_tuning.set_processing_job(name, start_time=datetime.now(UTC) - timedelta(hours=hours))
    if cpu_percent is not None:
        now = datetime.now(UTC)
        for host in range(1, hosts + 1):
            boto3.client("cloudwatch").put_metric_data(Namespace="/aws/sagemaker/ProcessingJobs", MetricData=[
                {"MetricName": "CPUUtilization", "Dimensions": [{"Name": "Host", "Value": f"{name}/algo-{host}"}],
                 "Timestamp": now - timedelta(minutes=m), "Value": cpu_percent} for m in range(0, 70, 5)])
    return str(arn)


def processing_status(name: str) -> str:
    return str(sm().describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"])


def test_an_idle_processing_job_is_stopped_through_the_watch(world: None) -> None:
    arn = create_processing("features-idle", 2.0)
    dry = watch_step("features-idle", DRY_RUN, job_arn=arn)
    assert dry.action == "stop" and not dry.applied and processing_status("features-idle") == "InProgress"
    step = turn("features-idle", ENFORCE, job_arn=arn)  # stopped and announced
    assert step.applied and step.decision.figures["findings"] == ["IdleProcessingJob"]
    assert sagemaker_tuning.processing_stop_calls("features-idle") == 1
    stopping = turn("features-idle", ENFORCE, "stop", job_arn=arn)
    assert stopping.status == "Stopping" and not stopping.publish and not stopping.done
    stopped = turn("features-idle", ENFORCE, "stop", job_arn=arn)
    assert stopped.done and stopped.publish and stopped.status == "Stopped"  # the finding closed
    assert sagemaker_tuning.processing_stop_calls("features-idle") == 1


def test_a_processing_job_without_metrics_or_of_a_monitoring_schedule_is_never_stopped(world: None) -> None:
    arn = create_processing("features-quiet", None)
    assert "insufficient data" in evaluate_processing("features-quiet", ENFORCE, job_arn=arn).reason
    monitored = create_processing("monitoring-run", 1.0)
    sagemaker_tuning.set_processing_job(
        "monitoring-run", monitoring_schedule_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/s")
    decision = apply(evaluate_processing("monitoring-run", ENFORCE, job_arn=monitored), ENFORCE)
    assert decision.action == "none" and "never stopped" in decision.reason
    assert processing_status("monitoring-run") == "InProgress"


def create_warm_pool(name: str, ended_minutes: float) -> str:
    arn = sm().create_training_job(
        TrainingJobName=name, AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn=ROLE, OutputDataConfig={"S3OutputPath": "s3://out/"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30,
                        "KeepAlivePeriodInSeconds": 3600},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})["TrainingJobArn"]
    end = datetime.now(UTC) - timedelta(minutes=ended_minutes)
    sagemaker_training.set_training_job_status(name, "Completed", start_time=end - timedelta(hours=1), end_time=end)
    return str(arn)


def warm_status(name: str) -> str | None:
    return (sm().describe_training_job(TrainingJobName=name).get("WarmPoolStatus") or {}).get("Status")


def test_a_lingering_warm_pool_is_released_and_the_watch_goes_on_until_then(world: None) -> None:
    arn = create_warm_pool("pool-lingering", 45)
    dry = watch_step("pool-lingering", DRY_RUN, job_arn=arn)
    assert dry.action == "release-warm-pool" and not dry.done and warm_status("pool-lingering") == "Available"
    step = watch_step("pool-lingering", ENFORCE, job_arn=arn)
    assert step.applied and not step.done and warm_status("pool-lingering") == "Terminated"
    after = watch_step("pool-lingering", ENFORCE, "release-warm-pool", job_arn=arn)
    assert after.done and after.action == "none" and after.publish  # the finding is closed
    young = create_warm_pool("pool-young", 10)
    assert watch_step("pool-young", ENFORCE, job_arn=young).action == "none"
    assert not watch_step("pool-young", ENFORCE, job_arn=young).done  # still Available: watched on


def test_a_cross_region_input_is_sized_with_a_bounded_listing(world: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="acme-eu-data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for n in range(5):
        s3.put_object(Bucket="acme-eu-data", Key=f"train/part-{n}", Body=b"x" * 1000)
    sm().create_training_job(
        TrainingJobName="remote-input", AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn=ROLE, OutputDataConfig={"S3OutputPath": "s3://out/"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://acme-eu-data/train/"}}}],
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    decision = evaluate("remote-input", ENFORCE)
    assert decision.action == "recommend-colocate" and decision.figures["bytes_read"] == 5000
    bounded = evaluate("remote-input", ENFORCE.model_copy(update={"data_locality": ENFORCE.data_locality.model_copy(
        update={"max_listed_objects": 2})}))
    assert bounded.figures["bytes_read"] == 2000 and bounded.figures["bytes_read_at_least"]
    assert not apply(decision, ENFORCE).applied  # a recommendation is only announced

