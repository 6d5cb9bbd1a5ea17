"""The retraining handler against moto: CloudWatch drift and KPI, SageMaker endpoints and
pipelines, EventBridge Scheduler, the state table and the decision bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws
from tests.conftest import Context, load_function

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
ALARM_EVENT = json.loads((ROOT / "events" / "cloudwatch-alarm-drift.json").read_text())
GROUP = "greenrail-retraining"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/greenrail-retraining-scheduler"
# gCO2e/kWh per UTC hour: the greenest hour is 13:00, the dirtiest 19:00
PROFILE = [300.0] * 24
PROFILE[13] = 90.0
PROFILE[19] = 500.0


@dataclass
class World:
    handler: ModuleType
    policy_file: Path
    queue_url: str

    def policy(self, mode: str = "enforce", cooldown_days: float = 7, pipeline: str = "churn-retrain",
               max_delay_hours: int = 24) -> None:
        self.policy_file.write_text(json.dumps({
            "version": 1,
            "retraining": {
                "mode": mode, "cooldown_days": cooldown_days, "max_delay_hours": max_delay_hours,
                "window": {"source": "profile", "profiles": {REGION: PROFILE}},
                "models": [{
                    "endpoint": "churn-prod", "pipeline": pipeline, "pipeline_parameters": {"Reason": "drift"},
                    "drift": {"namespace": "Custom/Drift", "metric_name": "drift_score",
                              "dimensions": {"Endpoint": "churn-prod"}, "statistic": "Maximum", "threshold": 0.3},
                    "kpi": {"namespace": "Custom/ModelQuality", "metric_name": "auc",
                            "dimensions": {"Endpoint": "churn-prod"}, "threshold": 0.8},
                }],
            },
        }))

    def metric(self, namespace: str, name: str, value: float, hours_ago: float = 1) -> None:
        boto3.client("cloudwatch", region_name=REGION).put_metric_data(Namespace=namespace, MetricData=[{
            "MetricName": name, "Dimensions": [{"Name": "Endpoint", "Value": "churn-prod"}], "Value": value,
            "Timestamp": datetime.now(UTC) - timedelta(hours=hours_ago)}])

    def invoke(self, event: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.handler.handler(event or ALARM_EVENT, Context())
        return result

    def schedules(self) -> list[dict[str, Any]]:
        scheduler = boto3.client("scheduler", region_name=REGION)
        names = [s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
        return [scheduler.get_schedule(Name=name, GroupName=GROUP) for name in names]

    def decisions(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        found = []
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                found.append(json.loads(message["Body"])["detail"])
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mock_aws():
        aws.reset_clients()
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model(ModelName="churn", ExecutionRoleArn=ROLE,
                               PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/churn:1"})
        sagemaker.create_endpoint_config(EndpointConfigName="churn-config", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "churn", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}])
        sagemaker.create_endpoint(EndpointName="churn-prod", EndpointConfigName="churn-config")
        sagemaker.create_pipeline(PipelineName="churn-retrain", RoleArn=ROLE,
                                  PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}))
        boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=GROUP)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(TableName="state", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name="greenrail")
        queue_url = sqs.create_queue(QueueName="decisions")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName="greenrail", EventPattern=json.dumps({"source": ["greenrail"]}))
        events.put_targets(Rule="all", EventBusName="greenrail", Targets=[{"Id": "q", "Arn": queue_arn}])
        policy_file = tmp_path / "policy.json"
        for key, value in {"GREENRAIL_POLICY_FILE": str(policy_file), "GREENRAIL_STATE_TABLE": "state",
                           "GREENRAIL_BUS_NAME": "greenrail", "GREENRAIL_RETRAINING_SCHEDULE_GROUP": GROUP,
                           "GREENRAIL_RETRAINING_SCHEDULER_ROLE_ARN": ROLE, "GREENRAIL_ACCOUNT_ID": ACCOUNT}.items():
            monkeypatch.setenv(key, value)
        found = World(load_function("retraining"), policy_file, queue_url)
        found.policy()
        yield found
        aws.reset_clients()


def test_drift_and_a_falling_kpi_schedule_one_run_at_the_greenest_hour(world: World) -> None:
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.71)
    result = world.invoke()
    assert result["retrain"] == 1
    [schedule] = world.schedules()
    [decision] = world.decisions()
    scheduled_for = datetime.fromisoformat(decision["target"]["scheduled_for"].replace("Z", "+00:00"))
    # the lowest-intensity hour within 24 h of now is 13:00 UTC (today or tomorrow; now, during it)
    assert scheduled_for.hour == 13 and (scheduled_for.minute == 0 or datetime.now(UTC).hour == 13)
    assert scheduled_for - datetime.now(UTC) <= timedelta(hours=24)
    at = datetime.fromisoformat(schedule["ScheduleExpression"][3:-1]).replace(tzinfo=UTC)
    assert timedelta(0) <= at - scheduled_for.replace(microsecond=0) <= timedelta(minutes=2)  # never in the past
    assert schedule["ActionAfterCompletion"] == "DELETE"
    target = schedule["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
    assert target["RoleArn"] == ROLE
    payload = json.loads(target["Input"])
    assert payload["PipelineName"] == "churn-retrain"
    assert payload["PipelineParameters"] == [{"Name": "Reason", "Value": "drift"}]
    assert 32 <= len(payload["ClientRequestToken"]) <= 128
    assert decision["action"] == "retrain" and decision["applied"]
    assert decision["figures"]["window"]["intensity_chosen_g_per_kwh"] == 90.0
    assert decision["target"]["pipeline"] == "churn-retrain"


def test_the_same_evidence_three_times_schedules_and_announces_once(world: World) -> None:
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.71)
    for _ in range(3):
        world.invoke()
    world.invoke({"sweep": True})  # the daily sweep sees the same evidence
    found = world.decisions()
    assert [d["action"] for d in found] == ["retrain"], [(d["reason"], d["figures"]["drift"]["evidence_id"]) for d in found]



def test_drift_with_a_healthy_kpi_is_held(world: World) -> None:
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.93)
    world.invoke()
    assert world.schedules() == []
    [decision] = world.decisions()
    assert decision["action"] == "hold" and "healthy" in decision["reason"]


def test_no_kpi_data_keeps_the_gate_shut(world: World) -> None:
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.invoke()
    [decision] = world.decisions()
    assert decision["action"] == "hold" and "no KPI data" in decision["reason"] and world.schedules() == []


def test_a_kpi_drop_inside_the_cool_down_is_held(world: World) -> None:
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.6)
    boto3.client("sagemaker", region_name=REGION).start_pipeline_execution(PipelineName="churn-retrain")
    world.invoke()
    [decision] = world.decisions()
    assert decision["action"] == "hold" and "cool-down" in decision["reason"] and world.schedules() == []


def test_no_drift_is_nothing(world: World) -> None:
    world.metric("Custom/Drift", "drift_score", 0.1)
    world.metric("Custom/ModelQuality", "auc", 0.5)
    result = world.invoke()
    assert [d["action"] for d in result["decisions"]] == ["none"]  # decided, not dropped
    assert world.decisions() == [] and world.schedules() == []


def test_a_pipeline_that_does_not_exist_is_a_decision_not_a_retry(world: World) -> None:
    world.policy(pipeline="no-such-pipeline")
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.6)
    assert world.invoke()["status"] == "evaluated"
    [decision] = world.decisions()
    assert decision["action"] == "hold" and "does not exist" in decision["reason"] and world.schedules() == []


def test_dry_run_schedules_nothing(world: World) -> None:
    world.policy(mode="dry-run")
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.6)
    world.invoke()
    [decision] = world.decisions()
    assert decision["action"] == "retrain" and not decision["applied"] and world.schedules() == []
    alarms = boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]
    assert alarms == []  # dry-run creates nothing, not even Greenrail's own alarm


def test_enforce_keeps_the_drift_alarm(world: World) -> None:
    world.metric("Custom/Drift", "drift_score", 0.1)
    world.invoke({"sweep": True})
    [alarm] = boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]
    assert alarm["AlarmName"] == "greenrail-drift-churn-prod" and alarm["Threshold"] == 0.3
    assert alarm["Namespace"] == "Custom/Drift" and alarm["Statistic"] == "Maximum"


def test_an_alarm_back_to_ok_and_a_foreign_event_do_nothing(world: World) -> None:
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.6)
    ok = json.loads((ROOT / "events" / "nearmiss" / "cloudwatch-alarm-drift-ok.json").read_text())
    assert world.invoke(ok)["status"] == "ignored"
    assert world.invoke({"source": "aws.s3", "detail-type": "Object Created", "detail": {}})["status"] == "malformed"
    assert world.decisions() == [] and world.schedules() == []


def test_the_namespace_is_discovered_when_left_out(world: World) -> None:
    policy = json.loads(world.policy_file.read_text())
    del policy["retraining"]["models"][0]["drift"]["namespace"]
    world.policy_file.write_text(json.dumps(policy))
    world.metric("aws/sagemaker/Endpoints/data-metrics", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.6)
    world.invoke()
    [decision] = world.decisions()
    assert decision["action"] == "retrain"
    assert "aws/sagemaker/Endpoints/data-metrics" in decision["figures"]["drift"]["detail"]


MONITOR_EVENT = json.loads((ROOT / "events" / "sagemaker-processing-job-monitoring.json").read_text())


@pytest.fixture
def monitored(world: World) -> World:
    """churn-prod's drift comes from Model Monitor (its data-quality schedule's executions)."""
    from greenrail_cli.emulator.moto_ext import sagemaker_monitoring, sagemaker_pipelines

    sagemaker_monitoring.apply()
    sagemaker_pipelines.apply()
    policy = json.loads(world.policy_file.read_text())
    policy["retraining"]["models"][0]["drift"] = {"source": "model-monitor", "schedule": "churn-prod-data-quality",
                                                  "check_types": ["baseline_drift_check"], "min_violations": 2}
    world.policy_file.write_text(json.dumps(policy))
    world.metric("Custom/ModelQuality", "auc", 0.6)
    return world


def seed(violations: list[dict[str, Any]] | None = None, body: bytes | None = None) -> Any:
    from greenrail_cli.emulator.moto_ext import sagemaker_monitoring

    boto3.client("s3", region_name=REGION).create_bucket(Bucket="greenrail-model-monitor-reports")
    return sagemaker_monitoring.seed_monitoring_execution(
        "churn-prod", "churn-prod-data-quality", violations=violations, report_body=body, emit_event=False)


def test_model_monitor_violations_open_the_gate(monitored: World) -> None:
    from greenrail_cli.emulator.moto_ext.sagemaker_monitoring import drift_violation

    seed([drift_violation("age"), drift_violation("tenure"),
          {"feature_name": "plan", "constraint_check_type": "data_type_check", "description": "not a string"}])
    for _ in range(3):  # the same monitoring execution announced three times
        monitored.invoke(MONITOR_EVENT | {"detail": {**MONITOR_EVENT["detail"]}})
    [decision] = monitored.decisions()
    assert decision["action"] == "retrain" and decision["figures"]["drift"]["value"] == 2.0
    assert decision["figures"]["drift"]["evidence_id"].startswith("model-monitor:arn:aws:sagemaker:")
    assert len(monitored.schedules()) == 1


def test_too_few_violations_of_the_listed_checks_is_no_drift(monitored: World) -> None:
    from greenrail_cli.emulator.moto_ext.sagemaker_monitoring import drift_violation

    seed([drift_violation("age"),
          {"feature_name": "plan", "constraint_check_type": "data_type_check", "description": "not a string"}])
    result = monitored.invoke(MONITOR_EVENT)
    assert [d["action"] for d in result["decisions"]] == ["none"]
    assert monitored.decisions() == [] and monitored.schedules() == []


@pytest.mark.parametrize("body", [b"{not json", b'{"violations": "many"}', b"[1, 2]"])
def test_a_malformed_violations_report_is_no_evidence_and_no_crash(monitored: World, body: bytes) -> None:
    seed(body=body)
    result = monitored.invoke(MONITOR_EVENT)
    [decision] = result["decisions"]  # decided (no drift, said so), not dropped
    assert decision["action"] == "none" and "malformed" in decision["reason"]
    assert monitored.decisions() == [] and monitored.schedules() == []


def test_a_missing_violations_report_is_no_evidence(monitored: World) -> None:
    seed(violations=None)
    result = monitored.invoke(MONITOR_EVENT)
    [decision] = result["decisions"]
    assert decision["action"] == "none" and "no violations report" in decision["reason"]
    assert monitored.decisions() == [] and monitored.schedules() == []


def test_the_hold_names_the_compute_one_run_would_have_used(world: World) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_pipelines

    sagemaker_pipelines.apply()
    now = datetime.now(UTC)
    run = sagemaker_pipelines.seed_pipeline_execution("churn-retrain", start_time=now - timedelta(days=20),
                                                      end_time=now - timedelta(days=20, hours=-2))
    sagemaker_pipelines.seed_training_step(run, "churn-train-1", instance_type="ml.p3.2xlarge", instance_count=2,
                                           training_seconds=2 * 3600)
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.95)
    world.invoke()
    [decision] = world.decisions()
    compute = decision["figures"]["compute"]
    assert decision["action"] == "hold" and compute["hours"] == 4.0  # 2 h x 2 instances
    assert compute["usd"] == pytest.approx(4 * 3.825, rel=0.01)  # ml.p3.2xlarge on-demand, data/sagemaker_training_prices.json
    assert decision["savings"]["usd_per_month"] == compute["usd"] and compute["kgco2e"] > 0
    assert "estimated" in decision["figures"]["savings_basis"]


def test_a_schedule_throttled_beyond_retries_is_created_once_on_the_retry(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly once under throttling: the invocation fails, Lambda retries it, one schedule, one announcement."""
    from botocore.exceptions import ClientError

    from greenrail.adapters import pipelines

    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.7)
    real, calls = pipelines.schedule_pipeline_start, []

    def throttled_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "CreateSchedule")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipelines, "schedule_pipeline_start", throttled_once)
    with pytest.raises(ClientError):
        world.invoke()
    world.invoke()
    assert len(world.schedules()) == 1
    assert [d["action"] for d in world.decisions()] == ["retrain"]


def test_an_endpoint_tag_may_name_the_pipeline(world: World) -> None:
    policy = json.loads(world.policy_file.read_text())
    del policy["retraining"]["models"][0]["pipeline"]
    world.policy_file.write_text(json.dumps(policy))
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    arn = sagemaker.describe_endpoint(EndpointName="churn-prod")["EndpointArn"]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "greenrail:pipeline", "Value": "churn-retrain"}])
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.7)
    world.invoke()
    [decision] = world.decisions()
    assert decision["action"] == "retrain" and decision["target"]["pipeline"] == "churn-retrain"
    [schedule] = world.schedules()
    assert json.loads(schedule["Target"]["Input"])["PipelineName"] == "churn-retrain"


def test_an_unreadable_report_is_a_decision_not_silence(monitored: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    from greenrail.adapters import pipelines
    from greenrail_cli.emulator.moto_ext.sagemaker_monitoring import drift_violation

    seed([drift_violation("age"), drift_violation("tenure")])

    def denied(uri: str, max_bytes: int = 0) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"},
                           "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")

    monkeypatch.setattr(pipelines, "read_json", denied)
    monitored.invoke(MONITOR_EVENT)
    [decision] = monitored.decisions()
    assert decision["action"] == "hold" and decision["error"] == "AccessDenied" and monitored.schedules() == []


def test_a_newer_failed_execution_does_not_hide_the_violations(monitored: World) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_monitoring
    from greenrail_cli.emulator.moto_ext.sagemaker_monitoring import drift_violation

    seed([drift_violation("age"), drift_violation("tenure")])
    sagemaker_monitoring.seed_monitoring_execution(
        "churn-prod", "churn-prod-data-quality", status="Failed", failure_reason="instance unavailable",
        scheduled_time=datetime.now(UTC) - timedelta(minutes=1), emit_event=False)
    monitored.invoke(MONITOR_EVENT)
    assert [d["action"] for d in monitored.decisions()] == ["retrain"]


def test_the_run_that_started_is_not_announced_again_as_held(world: World) -> None:
    world.policy(max_delay_hours=0)
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.7)
    world.invoke()
    # the schedule fired: the pipeline runs; the same evidence comes back (the sweep, a late alarm)
    boto3.client("sagemaker", region_name=REGION).start_pipeline_execution(PipelineName="churn-retrain")
    for schedule in world.schedules():
        boto3.client("scheduler", region_name=REGION).delete_schedule(Name=schedule["Name"], GroupName=GROUP)
    world.invoke({"sweep": True})
    assert [d["action"] for d in world.decisions()] == ["retrain"]


def test_a_pipeline_the_schedules_role_may_not_start_is_not_scheduled(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENRAIL_RETRAINING_PIPELINE_PATTERN", "*-retrain*")
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    arn = sagemaker.create_pipeline(PipelineName="churn-train", RoleArn=ROLE, PipelineDefinition=json.dumps(
        {"Version": "2020-12-01", "Steps": []}))["PipelineArn"]
    world.policy(pipeline="churn-train")
    world.metric("Custom/Drift", "drift_score", 0.42)
    world.metric("Custom/ModelQuality", "auc", 0.7)
    world.invoke()
    [refused] = world.decisions()
    assert refused["action"] == "retrain" and not refused["applied"] and refused["error"] == "PipelineNotAllowed"
    assert world.schedules() == []
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "greenrail:retraining", "Value": "allowed"}])
    world.invoke()  # the refusal was not remembered: tagged, the same evidence is scheduled now
    assert len(world.schedules()) == 1
    assert [d["applied"] for d in world.decisions()] == [True]
