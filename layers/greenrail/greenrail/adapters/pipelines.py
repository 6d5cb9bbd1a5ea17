"""SageMaker Pipelines, Model Monitor executions and EventBridge Scheduler: the retraining
policy's calls. No thresholds live here."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from greenrail.aws import client, error_code
from greenrail.permissions import calls

NOT_FOUND = ("ResourceNotFound", "ResourceNotFoundException", "ValidationException")
START_PIPELINE_TARGET = "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
# What a schedule's role needs: the target's action (a universal target's IAM action is its
# service and API), and sending to the dead-letter queue when the target fails.
SCHEDULE_ROLE_ACTIONS = frozenset({"sagemaker:StartPipelineExecution", "sqs:SendMessage"})


class PipelineNotFound(Exception):
    """The pipeline does not exist (in this account and region)."""


class AlreadyScheduled(Exception):
    """A schedule with that name exists: the same evidence was scheduled before."""


@calls("sagemaker:DescribePipeline")
def describe_pipeline(name: str) -> dict[str, Any]:
    try:
        return dict(client("sagemaker").describe_pipeline(PipelineName=name))
    except Exception as exc:
        if error_code(exc) in NOT_FOUND:
            raise PipelineNotFound(name) from exc
        raise


@calls("sagemaker:ListPipelineExecutions")
def executions_since(pipeline: str, since: datetime) -> list[dict[str, Any]]:
    """The pipeline's executions started at or after ``since``, newest first (paged, bounded)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"PipelineName": pipeline, "SortBy": "CreationTime", "SortOrder": "Descending",
                              "MaxResults": 100, "CreatedAfter": since}
    for _ in range(10):  # at most 1,000 executions in a cool-down: more is a runaway of its own
        response = client("sagemaker").list_pipeline_executions(**kwargs)
        found += response.get("PipelineExecutionSummaries", [])
        if not response.get("NextToken"):
            break
        kwargs["NextToken"] = response["NextToken"]
    return found


@calls("sagemaker:ListPipelineExecutions")
def last_succeeded_execution(pipeline: str) -> dict[str, Any] | None:
    response = client("sagemaker").list_pipeline_executions(
        PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending", MaxResults=50)
    for summary in response.get("PipelineExecutionSummaries", []):
        if summary.get("PipelineExecutionStatus") == "Succeeded":
            return dict(summary)
    return None


@calls("sagemaker:ListPipelineExecutionSteps")
def training_job_arns(execution_arn: str) -> list[str]:
    """The training jobs an execution's steps ran."""
    response = client("sagemaker").list_pipeline_execution_steps(PipelineExecutionArn=execution_arn, MaxResults=100)
    return [
        str(step["Metadata"]["TrainingJob"]["Arn"])
        for step in response.get("PipelineExecutionSteps", [])
        if (step.get("Metadata") or {}).get("TrainingJob", {}).get("Arn")
    ]


FINISHED_MONITORING = ("Completed", "CompletedWithViolations")


@calls("sagemaker:ListMonitoringExecutions")
def latest_monitoring_execution(endpoint: str, schedule: str | None) -> dict[str, Any] | None:
    """The endpoint's (or schedule's) most recent FINISHED monitoring execution: a newer one still
    pending, in progress, failed or stopped says nothing about the data, and must not hide it."""
    kwargs: dict[str, Any] = {"EndpointName": endpoint, "SortBy": "ScheduledTime", "SortOrder": "Descending",
                              "MaxResults": 20}
    if schedule:
        kwargs["MonitoringScheduleName"] = schedule
    summaries = client("sagemaker").list_monitoring_executions(**kwargs).get("MonitoringExecutionSummaries", [])
    finished = [s for s in summaries if s.get("MonitoringExecutionStatus") in FINISHED_MONITORING]
    return dict(finished[0]) if finished else None


@calls("sagemaker:DescribeProcessingJob")
def describe_processing_job(name: str) -> dict[str, Any]:
    return dict(client("sagemaker").describe_processing_job(ProcessingJobName=name))


@calls("s3:GetObject")
def read_json(s3_uri: str, max_bytes: int = 5 * 1024 * 1024) -> Any:
    """A JSON document from S3 (a Model Monitor report); raises ValueError when it is not JSON or too big."""
    bucket, _, key = s3_uri.removeprefix("s3://").partition("/")
    body = client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}")["Body"].read()
    if len(body) > max_bytes:
        raise ValueError(f"{s3_uri} is over {max_bytes} bytes")
    return json.loads(body)


@calls("scheduler:ListSchedules", central=True)
def pending_schedules(group: str, prefix: str) -> list[str]:
    """Names of the group's schedules that start with ``prefix`` (one-time schedules delete
    themselves once run, so what is listed is still to run)."""
    response = client("scheduler").list_schedules(GroupName=group, NamePrefix=prefix, MaxResults=100)
    return [str(s["Name"]) for s in response.get("Schedules", [])]


@calls("scheduler:CreateSchedule", "iam:PassRole", central=True)
def schedule_pipeline_start(name: str, group: str, at: datetime, pipeline: str, parameters: dict[str, str],
                            token: str, role_arn: str, dead_letter_arn: str | None, description: str) -> str:
    """A one-time schedule whose target starts the pipeline (the Scheduler's universal target
    for SageMaker StartPipelineExecution); deletes itself once run. Returns its ARN."""
    payload = {
        "PipelineName": pipeline,  # the name as configured: SageMaker may print ARNs in lower case
        "PipelineParameters": [{"Name": k, "Value": str(v)} for k, v in sorted(parameters.items())],
        "ClientRequestToken": token,
        "PipelineExecutionDescription": description[:3072],
    }
    target: dict[str, Any] = {
        "Arn": START_PIPELINE_TARGET,
        "RoleArn": role_arn,
        "Input": json.dumps(payload),
        "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
    }
    if dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": dead_letter_arn}
    try:
        response = client("scheduler").create_schedule(
            Name=name, GroupName=group, ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"}, Target=target,
            ActionAfterCompletion="DELETE", State="ENABLED", Description=description[:512],
        )
    except Exception as exc:
        if error_code(exc) == "ConflictException":
            raise AlreadyScheduled(name) from exc
        raise
    return str(response["ScheduleArn"])
