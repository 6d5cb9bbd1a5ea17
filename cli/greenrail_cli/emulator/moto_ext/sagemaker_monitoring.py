"""moto extension: Model Monitor executions, ``ListMonitoringExecutions`` and their reports.

moto 5.2.5 has no monitoring schedules and no ``ListMonitoringExecutions`` (the action raises
NotImplementedError). Greenrail's retraining policy reads a monitor's latest execution, its
processing job and the ``constraint_violations.json`` the job wrote. This module adds:

* ``ListMonitoringExecutions`` (backend method and response action) over the executions seeded
  with :func:`seed_monitoring_execution`: filters ``EndpointName``, ``MonitoringScheduleName``,
  ``StatusEquals``, ``MonitoringJobDefinitionName``, ``MonitoringTypeEquals`` and the
  ``ScheduledTime``/``CreationTime``/``LastModifiedTime`` ``Before``/``After`` bounds; ``SortBy``
  (``ScheduledTime``, ``CreationTime``, ``Status``; default ``CreationTime``), ``SortOrder``
  (default ``Descending``), ``MaxResults`` (1-100, default 10) and ``NextToken``;
* :func:`seed_monitoring_execution`, for tests and the demo: the report in S3, a processing job
  in moto whose ``DescribeProcessingJob`` has ``MonitoringScheduleArn`` and
  ``ProcessingOutputConfig.Outputs[0].S3Output.S3Uri`` (the report's prefix), the execution
  summary, and the ``SageMaker Processing Job State Change`` event SageMaker sends, delivered to
  the rules of the default bus (the emulator runs their targets on ``drain()``).

Shapes: botocore's SageMaker service model; FACTS.md, "Model Monitor". :func:`apply` is idempotent.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from greenrail_cli.emulator.moto_ext.default_bus import service_event
from greenrail_cli.emulator.moto_ext.times import epoch_ms, naive_utc, now

EXECUTION_STATUSES = ("Pending", "Completed", "CompletedWithViolations", "InProgress", "Failed", "Stopping", "Stopped")
SORT_KEYS = {"ScheduledTime": "ScheduledTime", "CreationTime": "CreationTime", "Status": "MonitoringExecutionStatus"}
MONITORING_TYPES = ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")
DEFAULT_REPORT_BUCKET = "greenrail-model-monitor-reports"
REPORT_FILE = "constraint_violations.json"
MONITOR_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
# The processing job's status for each execution status (a violation is not a job failure).
_JOB_STATUS = {
    "Completed": "Completed",
    "CompletedWithViolations": "Completed",
    "InProgress": "InProgress",
    "Failed": "Failed",
    "Stopping": "Stopping",
    "Stopped": "Stopped",
}
_TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
_FIELD = "greenrail_monitoring_executions"  # where the executions live on moto's backend (reset with it)

_applied = False


@dataclass(frozen=True)
class MonitoringExecution:
    """What :func:`seed_monitoring_execution` made."""

    summary: dict[str, Any]  # the MonitoringExecutionSummary (naive UTC datetimes, as moto keeps them)
    schedule_arn: str
    processing_job_name: str | None  # None for a Pending execution (no job yet)
    processing_job_arn: str | None
    report_uri: str | None  # s3://<bucket>/monitoring/<schedule>/<timestamp> (the job's S3Output.S3Uri)
    violations_uri: str | None  # <report_uri>/constraint_violations.json, when a report was written
    event: dict[str, Any] | None  # the Processing Job State Change event delivered, if any


def _default_account() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def _backend(account_id: str, region: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account_id][region]


def _executions(backend: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = backend.__dict__.setdefault(_FIELD, [])
    return records


# ---------------------------------------------------------------- ListMonitoringExecutions
def list_monitoring_executions(backend: Any, **params: Any) -> dict[str, Any]:
    """``ListMonitoringExecutions`` over the backend's executions (API parameter names)."""
    from moto.sagemaker.exceptions import ValidationError

    sort_by = params.get("SortBy") or "CreationTime"
    sort_order = params.get("SortOrder") or "Descending"
    status = params.get("StatusEquals")
    max_results = int(params.get("MaxResults") or 10)
    if sort_by not in SORT_KEYS:
        raise ValidationError(f"Value '{sort_by}' at 'sortBy' failed to satisfy constraint: "
                              f"Member must satisfy enum value set: {list(SORT_KEYS)}")
    if sort_order not in ("Ascending", "Descending"):
        raise ValidationError(f"Value '{sort_order}' at 'sortOrder' failed to satisfy constraint: "
                              "Member must satisfy enum value set: [Ascending, Descending]")
    if status is not None and status not in EXECUTION_STATUSES:
        raise ValidationError(f"Value '{status}' at 'statusEquals' failed to satisfy constraint: "
                              f"Member must satisfy enum value set: {list(EXECUTION_STATUSES)}")
    if not 1 <= max_results <= 100:
        raise ValidationError(f"Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
                              "Member must have value between 1 and 100")
    equals = {
        "EndpointName": params.get("EndpointName"),
        "MonitoringScheduleName": params.get("MonitoringScheduleName"),
        "MonitoringExecutionStatus": status,
        "MonitoringJobDefinitionName": params.get("MonitoringJobDefinitionName"),
        "MonitoringType": params.get("MonitoringTypeEquals"),
    }
    bounds = [(field, naive_utc(params.get(f"{field}After")), naive_utc(params.get(f"{field}Before")))
              for field in ("ScheduledTime", "CreationTime", "LastModifiedTime")]
    found = [
        record for record in _executions(backend)
        if all(value is None or record.get(key) == value for key, value in equals.items())
        and all((after is None or record[field] > after) and (before is None or record[field] < before)
                for field, after, before in bounds)
    ]
    key = SORT_KEYS[sort_by]
    found.sort(key=lambda record: (record[key], record["CreationTime"]), reverse=sort_order == "Descending")
    token = params.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValidationError(f"Invalid pagination token: {token}") from None
    page = found[start:start + max_results]
    result: dict[str, Any] = {"MonitoringExecutionSummaries": [dict(record) for record in page]}
    if start + max_results < len(found):
        result["NextToken"] = str(start + max_results)
    return result


_REQUEST_PARAMETERS = (
    "MonitoringScheduleName", "EndpointName", "SortBy", "SortOrder", "NextToken", "MaxResults",
    "ScheduledTimeBefore", "ScheduledTimeAfter", "CreationTimeBefore", "CreationTimeAfter",
    "LastModifiedTimeBefore", "LastModifiedTimeAfter", "StatusEquals", "MonitoringJobDefinitionName",
    "MonitoringTypeEquals",
)


def _backend_list_monitoring_executions(self: Any, **params: Any) -> dict[str, Any]:
    return list_monitoring_executions(self, **params)


def _response_list_monitoring_executions(self: Any) -> Any:
    from moto.core.responses import ActionResult

    params = {name: self._get_param(name) for name in _REQUEST_PARAMETERS}
    return ActionResult(self.sagemaker_backend.list_monitoring_executions(**params))


def apply() -> None:
    """Add ListMonitoringExecutions to moto's SageMaker backend and responses (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.sagemaker import models, responses

    models.SageMakerModelBackend.list_monitoring_executions = _backend_list_monitoring_executions  # type: ignore[attr-defined]
    responses.SageMakerResponse.list_monitoring_executions = _response_list_monitoring_executions  # type: ignore[attr-defined]
    _applied = True


# ---------------------------------------------------------------- seeding
def drift_violation(feature_name: str, distance: float = 0.3, threshold: float = 0.1) -> dict[str, str]:
    """One ``baseline_drift_check`` violation in the shape Model Monitor writes."""
    return {
        "feature_name": feature_name,
        "constraint_check_type": "baseline_drift_check",
        "description": f"Baseline drift distance: {distance} exceeds threshold: {threshold}",
    }


def _write_report(account: str, region: str, bucket: str, key: str | None, body: bytes) -> None:
    """Create the bucket if missing; put the object when there is a key."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account][get_partition(region)]
    if bucket not in backend.buckets:
        backend.create_bucket(bucket, region)
    if key is not None:
        backend.put_object(bucket, key, body)


def seed_monitoring_execution(
    endpoint_name: str,
    schedule_name: str,
    status: str = "CompletedWithViolations",
    violations: list[dict[str, Any]] | None = None,
    *,
    scheduled_time: datetime | None = None,
    report_bucket: str = DEFAULT_REPORT_BUCKET,
    report_body: str | bytes | None = None,
    monitoring_type: str = "DataQuality",
    job_definition_name: str | None = None,
    failure_reason: str | None = None,
    role_arn: str | None = None,
    instance_type: str = "ml.m5.xlarge",
    emit_event: bool = True,
    account_id: str | None = None,
    region: str = "us-east-1",
) -> MonitoringExecution:
    """Record one Model Monitor execution of ``schedule_name`` on ``endpoint_name``, as SageMaker would.

    * ``violations``: written as ``{"violations": violations}`` to
      ``s3://<report_bucket>/monitoring/<schedule>/<scheduled time>/constraint_violations.json``
      (the bucket is created if missing); ``None`` writes no report. ``report_body`` writes those
      bytes instead (a malformed report). Each violation is a dict with ``feature_name``,
      ``constraint_check_type`` and ``description`` (see :func:`drift_violation`).
    * ``status``: the execution's ``MonitoringExecutionStatus``. Its processing job is
      ``Completed`` for ``Completed`` and ``CompletedWithViolations``, ``Failed`` (with
      ``failure_reason``) for ``Failed``, and so on; a ``Pending`` execution has no job yet.
    * ``scheduled_time``: default ten minutes ago (wall clock). The job was created at
      that time, ran from one minute after it and (when terminal) ended six minutes after it.
    * ``emit_event``: deliver the job's ``SageMaker Processing Job State Change`` event to the
      default bus's rules (in the emulator, call ``emulator.drain()`` to run their targets).
    """
    from moto.sagemaker.utils import arn_formatter

    if status not in EXECUTION_STATUSES:
        raise ValueError(f"status must be one of {EXECUTION_STATUSES}, not {status!r}")
    if monitoring_type not in MONITORING_TYPES:
        raise ValueError(f"monitoring_type must be one of {MONITORING_TYPES}, not {monitoring_type!r}")
    account = account_id or _default_account()
    backend = _backend(account, region)
    scheduled = naive_utc(scheduled_time) or (now() - timedelta(minutes=10)).replace(microsecond=0)
    schedule_arn = arn_formatter("monitoring-schedule", schedule_name, account, region)
    summary: dict[str, Any] = {
        "MonitoringScheduleName": schedule_name,
        "ScheduledTime": scheduled,
        "CreationTime": scheduled,
        "LastModifiedTime": scheduled,
        "MonitoringExecutionStatus": status,
        "EndpointName": endpoint_name,
        "MonitoringType": monitoring_type,
    }
    if job_definition_name:
        summary["MonitoringJobDefinitionName"] = job_definition_name
    if status == "Failed":
        summary["FailureReason"] = failure_reason or "AlgorithmError: the monitoring container failed"
    if status == "Pending":
        _executions(backend).append(summary)
        return MonitoringExecution(dict(summary), schedule_arn, None, None, None, None, None)

    report_uri = f"s3://{report_bucket}/monitoring/{schedule_name}/{scheduled:%Y-%m-%dT%H-%M-%SZ}"
    violations_uri = None
    if report_body is not None or violations is not None:
        body = report_body if report_body is not None else json.dumps({"violations": violations}, indent=2)
        key = f"{report_uri.removeprefix(f's3://{report_bucket}/')}/{REPORT_FILE}"
        _write_report(account, region, report_bucket, key, body.encode() if isinstance(body, str) else body)
        violations_uri = f"{report_uri}/{REPORT_FILE}"
    else:
        _write_report(account, region, report_bucket, None, b"")

    job_name = f"model-monitoring-{scheduled:%Y%m%d%H%M}-{uuid.uuid4().hex[:8]}"
    job = backend.create_processing_job(
        app_specification={"ImageUri": MONITOR_IMAGE},
        experiment_config=None,
        network_config=None,
        processing_inputs=[{
            "InputName": "endpoint_input_1",
            "AppManaged": False,
            "S3Input": {
                "S3Uri": f"s3://{report_bucket}/capture/{endpoint_name}",
                "LocalPath": f"/opt/ml/processing/input/endpoint/{endpoint_name}",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
            },
        }],
        processing_job_name=job_name,
        processing_output_config={"Outputs": [{
            "OutputName": "result",
            "S3Output": {"S3Uri": report_uri, "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"},
            "AppManaged": False,
        }]},
        role_arn=role_arn or f"arn:aws:iam::{account}:role/greenrail-emulator-model-monitor",
        tags=[],
        stopping_condition={"MaxRuntimeInSeconds": 3600},
    )
    job.processing_job_status = _JOB_STATUS[status]
    job.monitoring_schedule_arn = schedule_arn
    job.processing_resources = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": instance_type, "VolumeSizeInGB": 30}}
    job.environment = {"dataset_format": '{"sagemakerCaptureJson": {}}', "endpoint_name": endpoint_name,
                       "output_path": "/opt/ml/processing/output", "monitoring_type": monitoring_type}
    job.creation_time = scheduled
    job.processing_start_time = scheduled + timedelta(minutes=1)
    job.processing_end_time = scheduled + timedelta(minutes=6) if job.processing_job_status in _TERMINAL else None
    job.last_modified_time = job.processing_end_time or job.processing_start_time
    if status == "Failed":
        job.failure_reason = summary["FailureReason"]
    elif status == "CompletedWithViolations":  # how the analyzer reports violations on the job
        job.exit_message = f"CompletedWithViolations: Job completed successfully with {len(violations or [])} violations."
    elif status == "Completed":
        job.exit_message = "Completed: Job completed successfully with no violations."
    summary["ProcessingJobArn"] = job.arn
    summary["LastModifiedTime"] = job.last_modified_time
    _executions(backend).append(summary)

    event = None
    if emit_event:
        from greenrail_cli.emulator.moto_ext import default_bus

        event = processing_job_state_change_event(job_name, account, region)
        default_bus.deliver(event)
    return MonitoringExecution(dict(summary), schedule_arn, job_name, job.arn, report_uri, violations_uri, event)


def processing_job_state_change_event(
    name: str, account_id: str | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """The ``SageMaker Processing Job State Change`` event SageMaker would send for the job now:
    the fields ``DescribeProcessingJob`` has, times as epoch milliseconds (strings, as in the
    documented training job sample), tags as a map."""
    account = account_id or _default_account()
    described = _backend(account, region).describe_processing_job(name)
    detail: dict[str, Any] = {}
    for key, value in described.items():
        if value is None or key in ("Tags", "ResponseMetadata"):
            continue
        detail[key] = epoch_ms(value) if isinstance(value, datetime) else value
    detail["Tags"] = {tag["Key"]: tag["Value"] for tag in described.get("Tags") or []}
    return service_event("aws.sagemaker", "SageMaker Processing Job State Change", account, region,
                         [described["ProcessingJobArn"]], detail)
