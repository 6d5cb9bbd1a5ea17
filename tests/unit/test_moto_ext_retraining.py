"""The moto extensions the retraining policy needs: Model Monitor executions, alarm state change
events, EventBridge Scheduler one-time schedules, SageMaker Pipelines executions and steps."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenrail_cli.emulator.moto_ext import (
    cloudwatch_alarms,
    events,
    hooks,
    sagemaker_monitoring,
    sagemaker_pipelines,
    scheduler,
)
from greenrail_cli.emulator.moto_ext.sagemaker_monitoring import drift_violation, seed_monitoring_execution
from greenrail_cli.emulator.moto_ext.sagemaker_pipelines import seed_pipeline_execution, seed_training_step

ACCOUNT = "123456789012"
REGION = "us-east-1"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TOKEN = "retrain-churn-0123456789abcdef0123456789"  # ClientRequestToken: 32 characters at least
START_PIPELINE = "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    for module in (events, sagemaker_monitoring, sagemaker_pipelines, cloudwatch_alarms, scheduler):
        module.apply()
    hooks.event_log = []  # what the rules matched (events.py records it)
    with mock_aws():
        yield


def capture_default_bus(source: str) -> Any:
    """A rule on the default bus for ``source``'s events; returns a reader of what it matched since."""
    name = f"capture-{source.replace('.', '-')}"
    boto3.client("events", region_name=REGION).put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    seen = len(hooks.event_log)

    def read() -> list[dict[str, Any]]:
        nonlocal seen
        matched = [event for bus, event in hooks.event_log[seen:] if bus == "default" and event["source"] == source]
        seen = len(hooks.event_log)
        return matched

    return read


def sm() -> Any:
    return boto3.client("sagemaker", region_name=REGION)


# ---------------------------------------------------------------- Model Monitor executions
def test_list_monitoring_executions_filters_sorts_and_pages(aws: None) -> None:
    seed_monitoring_execution("churn", "churn-data", "Completed", [], scheduled_time=T0)
    newest = seed_monitoring_execution("churn", "churn-data", violations=[drift_violation("age")],
                                       scheduled_time=T0 + timedelta(hours=1))
    seed_monitoring_execution("churn", "churn-quality", "Completed", scheduled_time=T0 + timedelta(hours=2),
                              monitoring_type="ModelQuality")
    seed_monitoring_execution("fraud", "fraud-data", "Failed", scheduled_time=T0 + timedelta(hours=3))

    first = sm().list_monitoring_executions(EndpointName="churn", MonitoringScheduleName="churn-data",
                                            SortBy="ScheduledTime", SortOrder="Descending", MaxResults=1)
    [summary] = first["MonitoringExecutionSummaries"]
    assert summary["MonitoringExecutionStatus"] == "CompletedWithViolations"
    assert summary["ProcessingJobArn"] == newest.processing_job_arn and summary["EndpointName"] == "churn"
    assert summary["ScheduledTime"] == T0 + timedelta(hours=1) and summary["MonitoringScheduleName"] == "churn-data"
    assert {"CreationTime", "LastModifiedTime"} <= set(summary)
    second = sm().list_monitoring_executions(EndpointName="churn", MonitoringScheduleName="churn-data",
                                             SortBy="ScheduledTime", SortOrder="Descending", MaxResults=1,
                                             NextToken=first["NextToken"])
    assert [s["MonitoringExecutionStatus"] for s in second["MonitoringExecutionSummaries"]] == ["Completed"]
    assert "NextToken" not in second

    def names(**kwargs: Any) -> list[str]:
        found = sm().list_monitoring_executions(**kwargs)["MonitoringExecutionSummaries"]
        return [f"{s['MonitoringScheduleName']}@{s['ScheduledTime'].hour}" for s in found]

    assert names(EndpointName="churn", SortBy="ScheduledTime", SortOrder="Ascending") == [
        "churn-data@10", "churn-data@11", "churn-quality@12"]
    assert names(StatusEquals="Failed") == ["fraud-data@13"]
    assert names(ScheduledTimeAfter=T0 + timedelta(minutes=90)) == ["fraud-data@13", "churn-quality@12"]
    assert names(MonitoringTypeEquals="ModelQuality") == ["churn-quality@12"]
    assert names(EndpointName="nobody") == []


def test_seeded_execution_has_its_processing_job_and_report(aws: None) -> None:
    violations = [drift_violation("age", 0.4, 0.1),
                  {"feature_name": "plan", "constraint_check_type": "data_type_check", "description": "not a string"}]
    seeded = seed_monitoring_execution("churn", "churn-data", "CompletedWithViolations", violations,
                                       scheduled_time=T0, report_bucket="monitor-reports")
    job = sm().describe_processing_job(ProcessingJobName=seeded.processing_job_name)
    assert job["ProcessingJobStatus"] == "Completed"  # a violation is not a failed job
    assert job["ExitMessage"] == "CompletedWithViolations: Job completed successfully with 2 violations."
    assert job["MonitoringScheduleArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/churn-data"
    uri = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert uri == seeded.report_uri and uri.startswith("s3://monitor-reports/monitoring/churn-data/")
    assert job["ProcessingEndTime"] > job["ProcessingStartTime"] >= T0
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    body = boto3.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/constraint_violations.json",
                                         Range="bytes=0-1048576")["Body"].read()
    assert json.loads(body) == {"violations": violations}
    assert seeded.violations_uri == f"{uri}/constraint_violations.json"


def test_no_report_and_a_malformed_report(aws: None) -> None:
    missing = seed_monitoring_execution("churn", "churn-data", violations=None, scheduled_time=T0)
    bucket, _, prefix = str(missing.report_uri).removeprefix("s3://").partition("/")
    boto3.client("s3").head_bucket(Bucket=bucket)
    assert boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0
    assert missing.violations_uri is None
    broken = seed_monitoring_execution("churn", "churn-data", report_body="{\"violations\": [",
                                       scheduled_time=T0 + timedelta(hours=1))
    bucket, _, key = str(broken.violations_uri).removeprefix("s3://").partition("/")
    assert boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == b"{\"violations\": ["


def test_failed_and_pending_executions(aws: None) -> None:
    failed = seed_monitoring_execution("churn", "churn-data", "Failed", scheduled_time=T0,
                                       failure_reason="ClientError: no baseline")
    pending = seed_monitoring_execution("churn", "churn-data", "Pending", scheduled_time=T0 + timedelta(hours=1))
    found = sm().list_monitoring_executions(EndpointName="churn")["MonitoringExecutionSummaries"]
    by_status = {s["MonitoringExecutionStatus"]: s for s in found}
    assert by_status["Failed"]["FailureReason"] == "ClientError: no baseline"
    assert "ProcessingJobArn" not in by_status["Pending"] and pending.processing_job_arn is None
    job = sm().describe_processing_job(ProcessingJobName=failed.processing_job_name)
    assert job["ProcessingJobStatus"] == "Failed" and job["FailureReason"] == "ClientError: no baseline"


def test_bad_list_parameters_are_validation_errors(aws: None) -> None:
    for kwargs in ({"SortBy": "Name"}, {"StatusEquals": "Done"}, {"NextToken": "not-a-token"}):
        with pytest.raises(ClientError) as error:
            sm().list_monitoring_executions(**kwargs)
        assert error.value.response["Error"]["Code"] == "ValidationException"


def test_seeding_sends_the_processing_job_state_change_event(aws: None) -> None:
    read = capture_default_bus("aws.sagemaker")
    seeded = seed_monitoring_execution("churn", "churn-data", violations=[drift_violation("age")], scheduled_time=T0)
    [event] = read()
    assert event["detail-type"] == "SageMaker Processing Job State Change" and event["source"] == "aws.sagemaker"
    assert event["resources"] == [seeded.processing_job_arn] and event["account"] == ACCOUNT
    detail = event["detail"]
    assert detail["ProcessingJobName"] == seeded.processing_job_name
    assert detail["ProcessingJobArn"] == seeded.processing_job_arn and detail["ProcessingJobStatus"] == "Completed"
    assert detail["MonitoringScheduleArn"] == seeded.schedule_arn
    assert detail["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == seeded.report_uri
    assert detail["ProcessingEndTime"] == str(int((T0 + timedelta(minutes=6)).timestamp() * 1000))
    seed_monitoring_execution("churn", "churn-data", scheduled_time=T0, emit_event=False)
    assert read() == []


# ---------------------------------------------------------------- CloudWatch alarm state changes
def put_alarm(name: str = "churn-drift", **extra: Any) -> None:
    kwargs: dict[str, Any] = {
        "AlarmName": name, "AlarmDescription": "drift on churn", "Namespace": "aws/sagemaker/Endpoints/data-metrics",
        "MetricName": "feature_baseline_drift_age", "Dimensions": [{"Name": "Endpoint", "Value": "churn"},
                                                                    {"Name": "MonitoringSchedule", "Value": "churn-data"}],
        "Statistic": "Maximum", "Period": 3600, "EvaluationPeriods": 1, "Threshold": 0.1,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    kwargs.update(extra)
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(**kwargs)


STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def test_set_alarm_state_sends_the_documented_event(aws: None) -> None:
    read = capture_default_bus("aws.cloudwatch")
    put_alarm()
    reason_data = json.dumps({"version": "1.0", "recentDatapoints": [0.4]})
    boto3.client("cloudwatch").set_alarm_state(AlarmName="churn-drift", StateValue="ALARM",
                                               StateReason="Threshold Crossed", StateReasonData=reason_data)
    [event] = read()
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:churn-drift"
    assert event["source"] == "aws.cloudwatch" and event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == [arn] and event["account"] == ACCOUNT and event["region"] == REGION
    detail = event["detail"]
    assert detail["alarmName"] == "churn-drift"
    assert detail["state"]["value"] == "ALARM" and detail["state"]["reason"] == "Threshold Crossed"
    assert detail["state"]["reasonData"] == reason_data and STAMP.match(detail["state"]["timestamp"])
    assert detail["previousState"]["value"] == "INSUFFICIENT_DATA"  # where CloudWatch starts an alarm
    assert detail["previousState"]["reason"] == "Unchecked: Initial alarm creation"
    assert STAMP.match(detail["previousState"]["timestamp"])
    [metric] = detail["configuration"]["metrics"]
    assert detail["configuration"]["description"] == "drift on churn"
    assert metric["returnData"] is True and metric["id"]
    assert metric["metricStat"] == {
        "metric": {"namespace": "aws/sagemaker/Endpoints/data-metrics", "name": "feature_baseline_drift_age",
                   "dimensions": {"Endpoint": "churn", "MonitoringSchedule": "churn-data"}},
        "period": 3600, "stat": "Maximum",
    }


def test_only_changes_are_announced_and_an_update_keeps_the_state(aws: None) -> None:
    read = capture_default_bus("aws.cloudwatch")
    put_alarm()
    cloudwatch = boto3.client("cloudwatch")
    assert cloudwatch.describe_alarms(AlarmNames=["churn-drift"])["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"
    cloudwatch.set_alarm_state(AlarmName="churn-drift", StateValue="ALARM", StateReason="drift")
    cloudwatch.set_alarm_state(AlarmName="churn-drift", StateValue="ALARM", StateReason="still drifting")
    put_alarm(Threshold=0.2)  # PutMetricAlarm on an existing alarm leaves its state alone
    assert cloudwatch.describe_alarms(AlarmNames=["churn-drift"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    cloudwatch.set_alarm_state(AlarmName="churn-drift", StateValue="OK", StateReason="back")
    events = read()
    assert [(e["detail"]["previousState"]["value"], e["detail"]["state"]["value"]) for e in events] == [
        ("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "OK")]
    assert events[1]["detail"]["previousState"]["reason"] == "still drifting"


def test_metric_math_alarm_configuration(aws: None) -> None:
    read = capture_default_bus("aws.cloudwatch")
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName="kpi-falling", EvaluationPeriods=1, Threshold=0.8, ComparisonOperator="LessThanThreshold",
        Metrics=[
            {"Id": "m1", "ReturnData": False, "MetricStat": {
                "Metric": {"Namespace": "Churn/KPI", "MetricName": "Precision", "Dimensions": [{"Name": "Model", "Value": "churn"}]},
                "Period": 86400, "Stat": "Average"}},
            {"Id": "e1", "Expression": "m1 * 1", "Label": "precision", "ReturnData": True},
        ],
    )
    boto3.client("cloudwatch").set_alarm_state(AlarmName="kpi-falling", StateValue="ALARM", StateReason="low")
    [event] = read()
    assert event["detail"]["configuration"]["metrics"] == [
        {"id": "m1", "metricStat": {"metric": {"namespace": "Churn/KPI", "name": "Precision",
                                               "dimensions": {"Model": "churn"}}, "period": 86400, "stat": "Average"},
         "returnData": False},
        {"id": "e1", "expression": "m1 * 1", "label": "precision", "returnData": True},
    ]


# ---------------------------------------------------------------- EventBridge Scheduler
def scheduler_role(name: str = "scheduler-role", actions: tuple[str, ...] = ("sagemaker:StartPipelineExecution",)) -> str:
    iam = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "scheduler.amazonaws.com"}}]}
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="start", PolicyDocument=json.dumps(policy))
    return arn


def schedule_start(name: str, at: datetime, role: str, *, group: str = "retraining", token: str = TOKEN,
                   after: str = "DELETE", timezone: str = "UTC", **target: Any) -> None:
    payload = {"PipelineName": "churn-retrain", "ClientRequestToken": token,
               "PipelineParameters": [{"Name": "Reason", "Value": "drift"}]}
    boto3.client("scheduler").create_schedule(
        Name=name, GroupName=group, ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
        ScheduleExpressionTimezone=timezone, FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion=after,
        Target={"Arn": START_PIPELINE, "RoleArn": role, "Input": json.dumps(payload), **target},
    )


def schedule_exists(name: str, group: str = "retraining") -> bool:
    try:
        boto3.client("scheduler").get_schedule(Name=name, GroupName=group)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


def executions(pipeline: str = "churn-retrain") -> list[dict[str, Any]]:
    return list(sm().list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"])


def test_a_due_schedule_starts_the_pipeline_once_and_deletes_itself(aws: None) -> None:
    sagemaker_pipelines.ensure_pipeline("churn-retrain")
    role = scheduler_role()
    boto3.client("scheduler").create_schedule_group(Name="retraining")
    schedule_start("retrain-now", T0, role)
    schedule_start("retrain-same-evidence", T0 + timedelta(minutes=5), role)  # same token: no second run
    schedule_start("retrain-later", T0 + timedelta(hours=3), role, token="another-token-0123456789abcdef01234567")

    assert scheduler.run_due_schedules(T0 - timedelta(seconds=1)) == []
    fired = scheduler.run_due_schedules(T0 + timedelta(minutes=10))
    assert [(f.name, f.ok, f.deleted) for f in fired] == [("retrain-now", True, True),
                                                           ("retrain-same-evidence", True, True)]
    assert fired[0].result == fired[1].result  # one execution, whatever the number of schedules
    [execution] = executions()
    assert fired[0].result["PipelineExecutionArn"] == execution["PipelineExecutionArn"]
    parameters = sm().list_pipeline_parameters_for_execution(PipelineExecutionArn=execution["PipelineExecutionArn"])
    assert parameters["PipelineParameters"] == [{"Name": "Reason", "Value": "drift"}]
    assert not schedule_exists("retrain-now") and schedule_exists("retrain-later")
    assert scheduler.run_due_schedules(T0 + timedelta(minutes=10)) == []
    assert [f.name for f in scheduler.run_due_schedules(T0 + timedelta(hours=3))] == ["retrain-later"]
    assert len(executions()) == 2


def test_at_is_read_in_the_schedules_timezone(aws: None) -> None:
    sagemaker_pipelines.ensure_pipeline("churn-retrain")
    boto3.client("scheduler").create_schedule_group(Name="retraining")
    schedule_start("paris", datetime(2026, 3, 1, 11, 0), scheduler_role(), timezone="Europe/Paris")  # 10:00 UTC
    assert scheduler.run_due_schedules(T0 - timedelta(minutes=1)) == []
    assert [f.due_at for f in scheduler.run_due_schedules(T0)] == [T0]


def test_a_role_without_the_action_fails_and_goes_to_the_dead_letter_queue(aws: None) -> None:
    sagemaker_pipelines.ensure_pipeline("churn-retrain")
    boto3.client("scheduler").create_schedule_group(Name="retraining")
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="scheduler-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = scheduler_role(actions=("sagemaker:DescribePipeline", "sqs:SendMessage"))
    schedule_start("retrain", T0, role, DeadLetterConfig={"Arn": dlq})
    [fired] = scheduler.run_due_schedules(T0)
    assert not fired.ok and str(fired.error).startswith("AccessDeniedException")
    assert fired.dead_lettered and fired.deleted and executions() == []
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["PipelineName"] == "churn-retrain"
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "AccessDeniedException"
    mute = scheduler_role("mute-role", actions=("sagemaker:DescribePipeline",))  # cannot send dead letters
    schedule_start("retrain-mute", T0, mute, DeadLetterConfig={"Arn": dlq})
    [fired] = scheduler.run_due_schedules(T0)
    assert not fired.ok and not fired.dead_lettered
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    missing_role = f"arn:aws:iam::{ACCOUNT}:role/nobody"
    schedule_start("retrain-2", T0, missing_role)
    [fired] = scheduler.run_due_schedules(T0)
    assert fired.error == f"AccessDeniedException: role {missing_role} does not exist"


def test_role_allows_reads_inline_and_managed_policies(aws: None) -> None:
    iam = boto3.client("iam")
    role = scheduler_role(actions=("sqs:SendMessage",))
    managed = iam.create_policy(PolicyName="starts", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:Start*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sagemaker:StartMonitoringSchedule", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="scheduler-role", PolicyArn=managed)
    assert scheduler.role_allows(role, "sagemaker:StartPipelineExecution") == (True, "")
    assert scheduler.role_allows(role, "sqs:SendMessage") == (True, "")
    assert scheduler.role_allows(role, "sagemaker:StartMonitoringSchedule")[0] is False  # the Deny wins
    assert scheduler.role_allows(role, "sagemaker:DeletePipeline")[0] is False
    assert scheduler.role_allows("", "sagemaker:StartPipelineExecution")[0] is False


def test_disabled_recurring_and_kept_schedules(aws: None) -> None:
    sagemaker_pipelines.ensure_pipeline("churn-retrain")
    role = scheduler_role()
    client = boto3.client("scheduler")
    client.create_schedule_group(Name="retraining")
    schedule_start("kept", T0, role, after="NONE")
    client.create_schedule(Name="daily", GroupName="retraining", ScheduleExpression="rate(1 day)",
                           FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": START_PIPELINE, "RoleArn": role})
    client.create_schedule(Name="off", GroupName="retraining", ScheduleExpression="at(2026-03-01T09:00:00)",
                           State="DISABLED", FlexibleTimeWindow={"Mode": "OFF"},
                           Target={"Arn": START_PIPELINE, "RoleArn": role, "Input": "{}"})
    assert [(f.name, f.deleted) for f in scheduler.run_due_schedules(T0)] == [("kept", False)]
    assert schedule_exists("kept") and scheduler.run_due_schedules(T0 + timedelta(days=2)) == []


def test_create_schedule_in_a_missing_group_is_resource_not_found(aws: None) -> None:
    with pytest.raises(ClientError) as error:
        schedule_start("retrain", T0, scheduler_role(), group="nowhere")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


# ---------------------------------------------------------------- Pipelines
def test_start_pipeline_execution_is_idempotent_per_token(aws: None) -> None:
    pipeline_arn = sagemaker_pipelines.ensure_pipeline("churn-retrain")
    first = sm().start_pipeline_execution(PipelineName="churn-retrain", ClientRequestToken=TOKEN)
    again = sm().start_pipeline_execution(PipelineName=pipeline_arn, ClientRequestToken=TOKEN)
    other = sm().start_pipeline_execution(PipelineName="churn-retrain", ClientRequestToken=TOKEN[::-1])
    assert first["PipelineExecutionArn"] == again["PipelineExecutionArn"] != other["PipelineExecutionArn"]
    assert {e["PipelineExecutionStatus"] for e in executions()} == {"Executing"} and len(executions()) == 2
    sagemaker_pipelines.set_pipeline_execution_status(other["PipelineExecutionArn"], "Succeeded")
    described = sm().describe_pipeline_execution(PipelineExecutionArn=other["PipelineExecutionArn"])
    assert described["PipelineExecutionStatus"] == "Succeeded"


def test_list_pipeline_executions_filters_sorts_and_pages(aws: None) -> None:
    old = seed_pipeline_execution("churn-retrain", start_time=T0 - timedelta(days=30))
    failed = seed_pipeline_execution("churn-retrain", start_time=T0 - timedelta(days=3), status="Failed",
                                     failure_reason="step Train failed")
    recent = seed_pipeline_execution("churn-retrain", start_time=T0 - timedelta(days=1))
    page = sm().list_pipeline_executions(PipelineName="churn-retrain", SortBy="CreationTime", SortOrder="Descending",
                                         MaxResults=2)
    assert [e["PipelineExecutionArn"] for e in page["PipelineExecutionSummaries"]] == [recent, failed]
    assert page["PipelineExecutionSummaries"][0]["StartTime"] == T0 - timedelta(days=1)
    assert "PipelineExecutionFailureReason" not in page["PipelineExecutionSummaries"][0]
    assert page["PipelineExecutionSummaries"][1]["PipelineExecutionFailureReason"] == "step Train failed"
    rest = sm().list_pipeline_executions(PipelineName="churn-retrain", SortBy="CreationTime", SortOrder="Descending",
                                         MaxResults=2, NextToken=page["NextToken"])
    assert [e["PipelineExecutionArn"] for e in rest["PipelineExecutionSummaries"]] == [old] and "NextToken" not in rest
    since = sm().list_pipeline_executions(PipelineName="churn-retrain", CreatedAfter=T0 - timedelta(days=7))
    assert [e["PipelineExecutionArn"] for e in since["PipelineExecutionSummaries"]] == [recent, failed]
    ascending = sm().list_pipeline_executions(PipelineName="churn-retrain", SortOrder="Ascending")
    assert [e["PipelineExecutionArn"] for e in ascending["PipelineExecutionSummaries"]] == [old, failed, recent]


def test_list_pipeline_execution_steps_names_the_training_job(aws: None) -> None:
    execution = seed_pipeline_execution("churn-retrain", start_time=T0 - timedelta(days=10))
    seed_training_step(execution, "churn-train-0301", instance_type="ml.g5.2xlarge", instance_count=2,
                       training_seconds=5400)
    [step] = sm().list_pipeline_execution_steps(PipelineExecutionArn=execution, MaxResults=100)["PipelineExecutionSteps"]
    job_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/churn-train-0301"
    assert step["Metadata"] == {"TrainingJob": {"Arn": job_arn}} and step["StepStatus"] == "Succeeded"
    job = sm().describe_training_job(TrainingJobName="churn-train-0301")
    assert job["TrainingJobStatus"] == "Completed" and job["BillableTimeInSeconds"] == 5400
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge" and job["ResourceConfig"]["InstanceCount"] == 2
    assert job["TrainingEndTime"] - job["TrainingStartTime"] == timedelta(seconds=5400)
    assert job["TrainingStartTime"] == T0 - timedelta(days=10) + timedelta(minutes=1)
    with pytest.raises(ClientError) as error:
        sm().list_pipeline_execution_steps(PipelineExecutionArn=execution.replace("/execution/", "/execution/x"))
    assert error.value.response["Error"]["Code"] == "ValidationException"


# ---------------------------------------------------------------- in the emulator
TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Listener:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: listener/
      Handler: app.handler
      Runtime: python3.12
      Events:
        Signals:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.cloudwatch, aws.sagemaker]
  RetrainingGroup:
    Type: AWS::Scheduler::ScheduleGroup
    Properties:
      Name: greenrail-retraining
  SchedulerRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: scheduler.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: start
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: sagemaker:StartPipelineExecution
                Resource: '*'
  DriftAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: churn-drift
      Namespace: Churn/Drift
      MetricName: drift
      Statistic: Maximum
      Period: 3600
      EvaluationPeriods: 1
      Threshold: 0.1
      ComparisonOperator: GreaterThanThreshold
Outputs:
  GroupArn:
    Value: !GetAtt RetrainingGroup.Arn
"""


def test_the_emulator_delivers_the_events_and_fires_due_schedules(tmp_path: Path) -> None:
    from greenrail_cli.emulator import Emulator

    (tmp_path / "listener").mkdir()
    (tmp_path / "listener" / "app.py").write_text("def handler(event, context):\n    return event['detail-type']\n")
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    with Emulator(template=tmp_path / "template.yaml") as emulator:
        assert emulator.physical("RetrainingGroup") == "greenrail-retraining"
        group = boto3.client("scheduler").get_schedule_group(Name="greenrail-retraining")
        assert emulator.stack is not None and emulator.stack.outputs["GroupArn"] == group["Arn"]

        boto3.client("cloudwatch").set_alarm_state(AlarmName="churn-drift", StateValue="ALARM", StateReason="drift")
        seeded = seed_monitoring_execution("churn", "churn-data", violations=[drift_violation("age")])
        emulator.drain()
        received = [i.event for i in emulator.runtime.invocations if i.ok]
        assert [e["detail-type"] for e in received] == ["CloudWatch Alarm State Change",
                                                        "SageMaker Processing Job State Change"]
        assert received[0]["detail"]["alarmName"] == "churn-drift"
        assert received[1]["detail"]["MonitoringScheduleArn"] == seeded.schedule_arn

        sagemaker_pipelines.ensure_pipeline("churn-retrain")
        role = emulator.stack.attributes["SchedulerRole"]["Arn"]
        schedule_start("retrain", emulator.clock.now() + timedelta(hours=2), role, group="greenrail-retraining")
        assert emulator.run_due_schedules() == []
        emulator.clock.advance(3 * 3600)
        [fired] = emulator.run_due_schedules()
        assert fired.ok and fired.deleted and emulator.fired_schedules == [fired]
        assert [e["PipelineExecutionArn"] for e in executions()] == [fired.result["PipelineExecutionArn"]]
