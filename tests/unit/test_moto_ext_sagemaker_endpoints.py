"""The moto extensions the endpoints policy needs: Inference Recommender jobs, blue/green
``UpdateEndpoint`` with baking and auto-rollback on the emulator's clock, endpoint events, and
CloudWatch percentiles over cheaply seeded variant traffic."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenrail_cli.emulator.clock import Clock
from greenrail_cli.emulator.moto_ext import (
    cloudwatch_alarms,
    cloudwatch_metrics,
    events,
    hooks,
    sagemaker_endpoints,
)
from greenrail_cli.emulator.moto_ext.sagemaker_endpoints import (
    fail_next_updates,
    recommendation,
    seed_recommendation_catalogue,
    seed_recommendations_job,
    seed_variant_traffic,
)

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/sm"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    for module in (events, cloudwatch_alarms, cloudwatch_metrics, sagemaker_endpoints):
        module.apply()
    clock = Clock()
    monkeypatch.setattr(hooks, "clock", clock)
    monkeypatch.setattr(hooks, "event_log", [])
    _clients.clear()
    with mock_aws():
        boto3.client("events", region_name=REGION).put_rule(
            Name="capture-sagemaker", EventPattern=json.dumps({"source": ["aws.sagemaker"]}))
        yield clock


_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    if service not in _clients:
        _clients[service] = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
    return _clients[service]


def sm() -> Any:
    return client("sagemaker")


def cw() -> Any:
    return client("cloudwatch")


def sagemaker_events() -> list[dict[str, Any]]:
    return [event for bus, event in hooks.event_log if bus == "default" and event["source"] == "aws.sagemaker"]


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def create_model(name: str = "churn") -> None:
    sm().create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})


def create_config(name: str, instance_type: str, count: int, model: str = "churn") -> None:
    sm().create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InstanceType": instance_type,
        "InitialInstanceCount": count}])


def endpoint_with_alarm(name: str = "churn-ep") -> None:
    create_model()
    create_config("churn-old", "ml.m5.xlarge", 4)
    create_config("churn-new", "ml.c5.large", 4)
    sm().create_endpoint(EndpointName=name, EndpointConfigName="churn-old", Tags=[{"Key": "team", "Value": "ml"}])
    cw().put_metric_alarm(
        AlarmName=f"{name}-latency", Namespace="AWS/SageMaker", MetricName="ModelLatency",
        Dimensions=[{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}],
        ExtendedStatistic="p99", Period=60, EvaluationPeriods=3, Threshold=50_000,
        ComparisonOperator="GreaterThanThreshold")


def deployment(routing: dict[str, Any], termination: int = 600, alarm: str = "churn-ep-latency") -> dict[str, Any]:
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": termination,
                                      "MaximumExecutionTimeoutInSeconds": 3600},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}}


def steps(events_: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(detail-type short name, EndpointStatus, pending VariantStatus) per event."""
    result = []
    for event in events_:
        pending = event["detail"].get("PendingDeploymentSummary")
        status = pending["ProductionVariants"][0]["VariantStatus"][0]["Status"] if pending else None
        kind = "deployment" if "Deployment" in event["detail-type"] else "endpoint"
        result.append((kind, event["detail"]["EndpointStatus"], status))
    return result


# ---------------------------------------------------------------- Inference Recommender
def test_recommendation_job_runs_on_the_clock_and_reports_results(aws: Clock) -> None:
    create_model()
    arn = sm().create_inference_recommendations_job(
        JobName="churn-default", JobType="Default", RoleArn=ROLE, InputConfig={"ModelName": "churn"})["JobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:inference-recommendations-job/churn-default"
    job = sm().describe_inference_recommendations_job(JobName="churn-default")
    assert job["Status"] == "IN_PROGRESS" and "InferenceRecommendations" not in job and "CompletionTime" not in job

    aws.advance(44 * 60)
    assert sm().describe_inference_recommendations_job(JobName="churn-default")["Status"] == "IN_PROGRESS"
    aws.advance(60)
    job = sm().describe_inference_recommendations_job(JobName="churn-default")
    assert job["Status"] == "COMPLETED" and job["CompletionTime"] >= job["CreationTime"]
    assert job["InputConfig"] == {"ModelName": "churn"} and job["JobType"] == "Default"
    recommendations = job["InferenceRecommendations"]
    assert len(recommendations) == 5
    for rec in recommendations:
        assert set(rec["Metrics"]) >= {"CostPerHour", "CostPerInference", "MaxInvocations", "ModelLatency",
                                       "CpuUtilization", "MemoryUtilization"}
        config = rec["EndpointConfiguration"]
        assert config["EndpointName"].startswith("sm-epc-") and config["VariantName"].startswith("sm-epc-")
        assert config["InstanceType"].startswith("ml.") and config["InitialInstanceCount"] == 1
        assert rec["RecommendationId"].startswith("churn-default/") and "EnvironmentParameters" in rec[
            "ModelConfiguration"]
        assert math.isclose(rec["Metrics"]["CostPerInference"],
                            rec["Metrics"]["CostPerHour"] / (rec["Metrics"]["MaxInvocations"] * 60), rel_tol=1e-6)

    with pytest.raises(ClientError) as in_use:
        sm().create_inference_recommendations_job(JobName="churn-default", JobType="Default", RoleArn=ROLE,
                                                  InputConfig={"ModelName": "churn"})
    assert code(in_use) == "ResourceInUse"
    with pytest.raises(ClientError) as unknown:
        sm().describe_inference_recommendations_job(JobName="nope")
    assert code(unknown) == "ResourceNotFound"
    with pytest.raises(ClientError) as no_model:
        sm().create_inference_recommendations_job(JobName="x", JobType="Default", RoleArn=ROLE,
                                                  InputConfig={"ModelName": "missing"})
    assert code(no_model) == "ValidationException"


def test_catalogue_advanced_jobs_stop_and_failures(aws: Clock) -> None:
    create_model()
    seeded = [recommendation("ml.c5.large", max_invocations=900, model_latency_ms=35),
              recommendation("ml.c5.xlarge", max_invocations=2000, model_latency_ms=18)]
    seed_recommendation_catalogue("churn", seeded)
    seed_recommendation_catalogue("arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/3",
                                  failure_reason="Benchmark failed: container exited with code 1")
    sm().create_inference_recommendations_job(
        JobName="churn-adv", JobType="Advanced", RoleArn=ROLE,
        InputConfig={"ModelName": "churn", "JobDurationInSeconds": 1800,
                     "EndpointConfigurations": [{"InstanceType": "ml.c5.large"}, {"InstanceType": "ml.c5.xlarge"}]})
    sm().create_inference_recommendations_job(
        JobName="fraud", JobType="Default", RoleArn=ROLE,
        InputConfig={"ModelPackageVersionArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/3"})
    sm().create_inference_recommendations_job(JobName="churn-stop", JobType="Default", RoleArn=ROLE,
                                              InputConfig={"ModelName": "churn"})
    sm().stop_inference_recommendations_job(JobName="churn-stop")
    assert sm().describe_inference_recommendations_job(JobName="churn-stop")["Status"] == "STOPPING"

    aws.advance(1800)
    adv = sm().describe_inference_recommendations_job(JobName="churn-adv")
    assert adv["Status"] == "COMPLETED"
    assert [(r["EndpointConfiguration"]["InstanceType"], r["Metrics"]["MaxInvocations"])
            for r in adv["InferenceRecommendations"]] == [("ml.c5.large", 900), ("ml.c5.xlarge", 2000)]
    assert sm().describe_inference_recommendations_job(JobName="churn-stop")["Status"] == "STOPPED"
    assert sm().describe_inference_recommendations_job(JobName="fraud")["Status"] == "IN_PROGRESS"
    aws.advance(900)
    fraud = sm().describe_inference_recommendations_job(JobName="fraud")
    assert fraud["Status"] == "FAILED" and fraud["FailureReason"].startswith("Benchmark failed")
    assert "InferenceRecommendations" not in fraud
    with pytest.raises(ClientError) as finished:
        sm().stop_inference_recommendations_job(JobName="churn-adv")
    assert code(finished) == "ValidationException"


def test_list_jobs_filters_sorts_and_pages(aws: Clock) -> None:
    t0 = datetime.now(UTC) - timedelta(days=10)
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/3"
    seed_recommendations_job("churn-old", model_name="churn", creation_time=t0)
    seed_recommendations_job("churn-failed", model_name="churn", status="FAILED", creation_time=t0 + timedelta(days=1))
    seed_recommendations_job("churn-new", model_name="churn", creation_time=t0 + timedelta(days=2))
    seed_recommendations_job("churn-running", model_name="churn", status="IN_PROGRESS",
                             creation_time=datetime.now(UTC) - timedelta(minutes=5))
    seed_recommendations_job("fraud-1", model_package_version_arn=package, creation_time=t0 + timedelta(days=3))

    completed = sm().list_inference_recommendations_jobs(ModelNameEquals="churn", StatusEquals="COMPLETED",
                                                         SortBy="CreationTime", SortOrder="Descending")
    assert [j["JobName"] for j in completed["InferenceRecommendationsJobs"]] == ["churn-new", "churn-old"]
    assert completed["InferenceRecommendationsJobs"][0]["ModelName"] == "churn"
    by_package = sm().list_inference_recommendations_jobs(ModelPackageVersionArnEquals=package)
    assert [(j["JobName"], j["ModelPackageVersionArn"]) for j in by_package["InferenceRecommendationsJobs"]] == [
        ("fraud-1", package)]
    recent = sm().list_inference_recommendations_jobs(CreationTimeAfter=t0 + timedelta(hours=12),
                                                      CreationTimeBefore=t0 + timedelta(days=2, hours=12))
    assert {j["JobName"] for j in recent["InferenceRecommendationsJobs"]} == {"churn-failed", "churn-new"}

    first = sm().list_inference_recommendations_jobs(SortBy="Name", SortOrder="Ascending", MaxResults=2)
    second = sm().list_inference_recommendations_jobs(SortBy="Name", SortOrder="Ascending", MaxResults=2,
                                                      NextToken=first["NextToken"])
    third = sm().list_inference_recommendations_jobs(SortBy="Name", SortOrder="Ascending", MaxResults=2,
                                                     NextToken=second["NextToken"])
    names = [j["JobName"] for page in (first, second, third) for j in page["InferenceRecommendationsJobs"]]
    assert names == ["churn-failed", "churn-new", "churn-old", "churn-running", "fraud-1"]
    assert "NextToken" not in third
    # the running job was created 5 minutes ago: it completes 40 emulated minutes later
    aws.advance(40 * 60)
    running = sm().list_inference_recommendations_jobs(NameContains="RUNNING")["InferenceRecommendationsJobs"]
    assert [(j["JobName"], j["Status"]) for j in running] == [("churn-running", "COMPLETED")]


def test_seeded_malformed_recommendations_come_back_as_seeded(aws: Clock) -> None:
    missing_latency = recommendation("ml.c5.large", model_latency_ms=None)
    nan_cost = recommendation("ml.m5.large", cost_per_hour=float("nan"), cpu_utilization=float("nan"))
    no_metrics = recommendation("ml.c5.xlarge")
    del no_metrics["Metrics"]
    seed_recommendations_job("churn-bad", model_name="churn", recommendations=[missing_latency, nan_cost, no_metrics])
    seed_recommendations_job("churn-broken", model_name="churn", status="FAILED")

    recs = sm().describe_inference_recommendations_job(JobName="churn-bad")["InferenceRecommendations"]
    assert "ModelLatency" not in recs[0]["Metrics"] and recs[0]["Metrics"]["MaxInvocations"] == 1000
    assert math.isnan(recs[1]["Metrics"]["CostPerHour"]) and math.isnan(recs[1]["Metrics"]["CpuUtilization"])
    assert "Metrics" not in recs[2]
    broken = sm().describe_inference_recommendations_job(JobName="churn-broken")
    assert broken["Status"] == "FAILED" and broken["FailureReason"] and "InferenceRecommendations" not in broken


def test_nan_integer_metrics_are_answered_missing(aws: Clock) -> None:
    """MaxInvocations and ModelLatency are Integers in SageMaker's model: a NaN has no wire form,
    so the answer leaves the metric out (the Float metrics keep their NaN)."""
    nan_latency = recommendation("ml.c5.large", model_latency_ms=float("nan"), cost_per_hour=float("nan"))
    inf_throughput = recommendation("ml.c5.xlarge", max_invocations=float("inf"), model_latency_ms=25)
    seed_recommendations_job("churn-nan", model_name="churn", recommendations=[nan_latency, inf_throughput])

    recs = sm().describe_inference_recommendations_job(JobName="churn-nan")["InferenceRecommendations"]
    assert "ModelLatency" not in recs[0]["Metrics"] and math.isnan(recs[0]["Metrics"]["CostPerHour"])
    assert "MaxInvocations" not in recs[1]["Metrics"] and recs[1]["Metrics"]["ModelLatency"] == 25


# ---------------------------------------------------------------- endpoint updates
def test_canary_blue_green_succeeds_with_events_in_order(aws: Clock) -> None:
    endpoint_with_alarm()
    config = deployment({"Type": "CANARY", "WaitIntervalInSeconds": 300,
                         "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}})
    before = sm().describe_endpoint(EndpointName="churn-ep")
    sm().update_endpoint(EndpointName="churn-ep", EndpointConfigName="churn-new", DeploymentConfig=config)

    updating = sm().describe_endpoint(EndpointName="churn-ep")
    assert updating["EndpointStatus"] == "Updating" and updating["EndpointConfigName"] == "churn-old"
    pending = updating["PendingDeploymentSummary"]
    assert pending["EndpointConfigName"] == "churn-new"
    [variant] = pending["ProductionVariants"]
    assert variant["InstanceType"] == "ml.c5.large" and variant["DesiredInstanceCount"] == 4
    assert variant["VariantStatus"][0]["Status"] == "Creating"
    assert updating["LastDeploymentConfig"] == config
    with pytest.raises(ClientError) as busy:
        sm().update_endpoint(EndpointName="churn-ep", EndpointConfigName="churn-new")
    assert code(busy) == "ValidationException" and "Cannot update in-progress endpoint" in str(busy.value)

    aws.advance(300 + 60)  # provisioned, canary activated
    canary = sm().describe_endpoint(EndpointName="churn-ep")["PendingDeploymentSummary"]["ProductionVariants"][0]
    assert canary["VariantStatus"][0]["Status"] == "Baking" and canary["CurrentInstanceCount"] == 1
    aws.advance(300 + 60 + 570)  # 30 s of baking left (wall time counts too: keep a margin)
    assert sm().describe_endpoint(EndpointName="churn-ep")["EndpointStatus"] == "Updating"
    aws.advance(30)
    done = sm().describe_endpoint(EndpointName="churn-ep")
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == "churn-new"
    assert "PendingDeploymentSummary" not in done and "FailureReason" not in done
    assert done["ProductionVariants"][0]["CurrentInstanceCount"] == 4
    assert done["ProductionVariants"][0]["VariantStatus"] == []
    assert done["LastDeploymentConfig"] == config and done["LastModifiedTime"] >= before["LastModifiedTime"]

    sent = sagemaker_events()
    assert steps(sent) == [
        ("endpoint", "UPDATING", "Creating"), ("deployment", "UPDATING", "Creating"),
        ("deployment", "UPDATING", "ActivatingTraffic"), ("deployment", "UPDATING", "Baking"),
        ("deployment", "UPDATING", "ActivatingTraffic"), ("deployment", "UPDATING", "Baking"),
        ("endpoint", "IN_SERVICE", None), ("deployment", "IN_SERVICE", None),
    ]
    first, last = sent[0], sent[-1]
    assert first["detail-type"] == "SageMaker Endpoint State Change" and first["resources"] == [done["EndpointArn"]]
    assert first["detail"]["EndpointConfigName"] == "churn-old" and first["detail"]["Tags"] == {"team": "ml"}
    assert isinstance(first["detail"]["CreationTime"], int) and first["detail"]["EndpointName"] == "churn-ep"
    assert "Baking for 300 seconds (WaitIntervalInSeconds)" in sent[3]["detail"]["PendingDeploymentSummary"][
        "ProductionVariants"][0]["VariantStatus"][0]["StatusMessage"]
    assert last["detail-type"] == "SageMaker Endpoint Deployment State Change"
    assert last["detail"]["EndpointConfigName"] == "churn-new"
    assert last["detail"]["ProductionVariants"][0]["DesiredInstanceCount"] == 4


def test_alarm_during_baking_rolls_back_to_the_old_config(aws: Clock) -> None:
    endpoint_with_alarm()
    config = deployment({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0})
    sm().update_endpoint(EndpointName="churn-ep", EndpointConfigName="churn-new", DeploymentConfig=config)
    aws.advance(300 + 60 + 100)  # baking on full capacity
    assert sm().describe_endpoint(EndpointName="churn-ep")["PendingDeploymentSummary"]["ProductionVariants"][0][
        "VariantStatus"][0]["Status"] == "Baking"

    cw().set_alarm_state(AlarmName="churn-ep-latency", StateValue="ALARM", StateReason="p99 above 50 ms")
    rolling = sm().describe_endpoint(EndpointName="churn-ep")
    assert rolling["EndpointStatus"] == "RollingBack"
    with pytest.raises(ClientError) as busy:
        sm().update_endpoint(EndpointName="churn-ep", EndpointConfigName="churn-new")
    assert code(busy) == "ValidationException"
    aws.advance(120)
    back = sm().describe_endpoint(EndpointName="churn-ep")
    assert back["EndpointStatus"] == "InService" and back["EndpointConfigName"] == "churn-old"
    assert back["ProductionVariants"][0]["DesiredInstanceCount"] == 4 and "PendingDeploymentSummary" not in back
    assert "churn-ep-latency" in back["FailureReason"] and back["LastDeploymentConfig"] == config
    sent = steps(sagemaker_events())
    assert sent[-4:] == [("endpoint", "ROLLING_BACK", "Deleting"), ("deployment", "ROLLING_BACK", "Deleting"),
                         ("endpoint", "IN_SERVICE", None), ("deployment", "IN_SERVICE", None)]
    assert "churn-ep-latency" in sagemaker_events()[-1]["detail"]["FailureReason"]

    # RetainDeploymentConfig reuses the last one: the alarm is still in ALARM, so it rolls back at once
    sm().update_endpoint(EndpointName="churn-ep", EndpointConfigName="churn-new", RetainDeploymentConfig=True)
    assert sm().describe_endpoint(EndpointName="churn-ep")["EndpointStatus"] == "RollingBack"
    aws.advance(120)
    assert sm().describe_endpoint(EndpointName="churn-ep")["EndpointConfigName"] == "churn-old"


def test_update_refusals_and_injected_resource_limit(aws: Clock) -> None:
    endpoint_with_alarm()
    fail_next_updates("churn-ep")
    with pytest.raises(ClientError) as limit:
        sm().update_endpoint(EndpointName="churn-ep", EndpointConfigName="churn-new")
    assert code(limit) == "ResourceLimitExceeded" and "Service Quotas" in str(limit.value)
    for kwargs in (
        {"EndpointName": "missing", "EndpointConfigName": "churn-new"},
        {"EndpointName": "churn-ep", "EndpointConfigName": "missing"},
        {"EndpointName": "churn-ep", "EndpointConfigName": "churn-new", "DeploymentConfig": deployment(
            {"Type": "CANARY", "WaitIntervalInSeconds": 60, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 75}})},
        {"EndpointName": "churn-ep", "EndpointConfigName": "churn-new", "DeploymentConfig": deployment(
            {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, alarm="no-such-alarm")},
    ):
        with pytest.raises(ClientError) as refused:
            sm().update_endpoint(**kwargs)
        assert code(refused) == "ValidationException", kwargs
    assert sm().describe_endpoint(EndpointName="churn-ep")["EndpointStatus"] == "InService"
    # without a deployment config: all at once, no baking
    sm().update_endpoint(EndpointName="churn-ep", EndpointConfigName="churn-new")
    aws.advance(360)
    done = sm().describe_endpoint(EndpointName="churn-ep")
    assert (done["EndpointStatus"], done["EndpointConfigName"]) == ("InService", "churn-new")
    assert "LastDeploymentConfig" not in done


def test_delete_endpoint_keeps_its_config_even_mid_deployment(aws: Clock) -> None:
    endpoint_with_alarm()
    sm().update_endpoint(EndpointName="churn-ep", EndpointConfigName="churn-new")
    sm().delete_endpoint(EndpointName="churn-ep")
    aws.advance(3600)
    assert sm().list_endpoints()["Endpoints"] == []
    assert sm().describe_endpoint_config(EndpointConfigName="churn-old")["EndpointConfigName"] == "churn-old"
    assert sm().describe_endpoint_config(EndpointConfigName="churn-new")["EndpointConfigName"] == "churn-new"


# ---------------------------------------------------------------- CloudWatch
def test_seeded_traffic_gives_per_minute_peak_and_p99(aws: Clock) -> None:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    written = seed_variant_traffic("churn-ep", per_minute_invocations=[120, 480, 0], latency_us=20_000,
                                   p99_latency_us=95_000, days=3, now_time=end)
    assert written <= 3 * 24 * 2  # one Invocations and at most one ModelLatency datapoint an hour
    dims = [{"Name": "EndpointName", "Value": "churn-ep"}, {"Name": "VariantName", "Value": "AllTraffic"}]

    def query(qid: str, metric: str, period: int, stat: str) -> dict[str, Any]:
        return {"Id": qid, "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric,
                                                     "Dimensions": dims}, "Period": period, "Stat": stat}}

    result = cw().get_metric_data(StartTime=end - timedelta(days=3, minutes=5), EndTime=end, MetricDataQueries=[
        query("inv", "Invocations", 60, "Sum"), query("p99", "ModelLatency", 3 * 86400 + 300, "p99"),
        query("p50", "ModelLatency", 3 * 86400 + 300, "p50"), query("avg", "ModelLatency", 3600, "Average")])
    values = {r["Id"]: r["Values"] for r in result["MetricDataResults"]}
    assert max(values["inv"]) == 480 and sorted(set(values["inv"])) == [0, 120, 480]
    assert values["p99"] == [95_000] and values["p50"] == [20_000]
    assert all(20_000 < v < 95_000 for v in values["avg"])
