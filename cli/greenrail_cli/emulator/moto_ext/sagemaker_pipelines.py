"""moto extension: SageMaker Pipelines executions as the retraining policy reads them.

moto 5.2.5 has CreatePipeline, StartPipelineExecution and ListPipelineExecutions, but:
``StartPipelineExecution`` ignores ``ClientRequestToken`` (the same token starts a second
execution), every execution is ``Succeeded`` the moment it starts, ``ListPipelineExecutions``
ignores ``CreatedAfter``/``CreatedBefore``, ``SortBy``/``SortOrder``, ``MaxResults`` and
``NextToken`` (and reports a missing failure reason as the string ``"None"``), pipeline ARNs are
not accepted where the API takes ``PipelineNameOrArn``, and ``ListPipelineExecutionSteps`` is not
implemented. This module fixes exactly that:

* ``StartPipelineExecution``: the same ``ClientRequestToken`` on the same pipeline returns the
  execution it started the first time; a new execution is ``Executing`` (:data:`STARTED_STATUS`),
  as on AWS, until :func:`set_pipeline_execution_status` moves it;
* ``ListPipelineExecutions``: the filters, sort (default ``CreationTime``, ``Descending``) and
  paging of the API; ``PipelineExecutionFailureReason`` only when there is one;
* pipeline names or ARNs wherever moto looks a pipeline up;
* ``ListPipelineExecutionSteps`` (backend method and response action) over the steps seeded with
  :func:`seed_training_step`, newest first unless ``SortOrder`` is ``Ascending``;
* :func:`seed_pipeline_execution` (a past execution with a given start time and status) and
  :func:`seed_training_step` (a Training step whose ``Metadata.TrainingJob.Arn`` names a training
  job, created ``Completed`` with its start and end times and instances), for tests and the demo.

:func:`apply` is idempotent.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from greenrail_cli.emulator.moto_ext.times import naive_utc, now

STARTED_STATUS = "Executing"
EXECUTION_STATUSES = ("Executing", "Stopping", "Stopped", "Failed", "Succeeded", "CompletedWithFailures")
STEP_STATUSES = ("Starting", "Executing", "Stopping", "Stopped", "Failed", "Succeeded")
_JOB_STATUS = {"Starting": "InProgress", "Executing": "InProgress", "Stopping": "Stopping", "Stopped": "Stopped",
               "Failed": "Failed", "Succeeded": "Completed"}
_STEPS = "greenrail_steps"  # where an execution's steps live on moto's execution object
TRAINING_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

_applied = False


def _default_account() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def _backend(account_id: str | None, region: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account_id or _default_account()][region]


def pipeline_name(pipelines: dict[str, Any], name_or_arn: str) -> str:
    """The pipeline's name for a name or an ARN (SageMaker lower-cases pipeline ARNs)."""
    if name_or_arn and name_or_arn.startswith("arn:") and ":pipeline/" in name_or_arn:
        wanted = name_or_arn.split(":pipeline/", 1)[1].split("/")[0]
        for name in pipelines:
            if name.lower() == wanted.lower():
                return str(name)
        return wanted
    return name_or_arn


def _validation(message: str) -> Exception:
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError(message)


def _page(items: list[Any], max_results: Any, token: Any, default: int = 50) -> tuple[list[Any], str | None]:
    size = int(max_results or default)
    if not 1 <= size <= 100:
        raise _validation(f"Value '{size}' at 'maxResults' failed to satisfy constraint: "
                          "Member must have value between 1 and 100")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise _validation(f"Invalid pagination token: {token}") from None
    return items[start:start + size], (str(start + size) if start + size < len(items) else None)


def _sort_order(value: Any) -> bool:
    """True for descending (the default)."""
    order = value or "Descending"
    if order not in ("Ascending", "Descending"):
        raise _validation(f"Value '{order}' at 'sortOrder' failed to satisfy constraint: "
                          "Member must satisfy enum value set: [Ascending, Descending]")
    return bool(order == "Descending")


# ---------------------------------------------------------------- backend methods
def list_pipeline_executions(backend: Any, **params: Any) -> dict[str, Any]:
    """``ListPipelineExecutions`` with the API's filters, sort and paging (API parameter names)."""
    from moto.sagemaker.utils import get_pipeline_from_name

    pipeline = get_pipeline_from_name(backend.pipelines, pipeline_name(backend.pipelines, params["PipelineName"]))
    sort_by = params.get("SortBy") or "CreationTime"
    if sort_by not in ("CreationTime", "PipelineExecutionArn"):
        raise _validation(f"Value '{sort_by}' at 'sortBy' failed to satisfy constraint: "
                          "Member must satisfy enum value set: [CreationTime, PipelineExecutionArn]")
    after, before = naive_utc(params.get("CreatedAfter")), naive_utc(params.get("CreatedBefore"))
    executions = [
        execution for execution in pipeline.pipeline_executions.values()
        if (after is None or execution.creation_time > after) and (before is None or execution.creation_time < before)
    ]
    executions.sort(key=(lambda e: (e.creation_time, e.arn)) if sort_by == "CreationTime" else (lambda e: e.arn),
                    reverse=_sort_order(params.get("SortOrder")))
    page, token = _page(executions, params.get("MaxResults"), params.get("NextToken"))
    summaries = []
    for execution in page:
        summary = {
            "PipelineExecutionArn": execution.arn,
            "StartTime": execution.start_time,
            "PipelineExecutionStatus": execution.pipeline_execution_status,
            "PipelineExecutionDescription": execution.pipeline_execution_description,
            "PipelineExecutionDisplayName": execution.pipeline_execution_display_name,
            "PipelineExecutionFailureReason": execution.pipeline_execution_failure_reason,
        }
        summaries.append({k: v for k, v in summary.items() if v is not None})
    result: dict[str, Any] = {"PipelineExecutionSummaries": summaries}
    if token:
        result["NextToken"] = token
    return result


def list_pipeline_execution_steps(backend: Any, **params: Any) -> dict[str, Any]:
    """``ListPipelineExecutionSteps`` over the execution's seeded steps."""
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    execution = get_pipeline_execution_from_arn(backend.pipelines, params["PipelineExecutionArn"])
    steps = sorted(getattr(execution, _STEPS, []), key=lambda step: step["StartTime"],
                   reverse=_sort_order(params.get("SortOrder")))
    page, token = _page(steps, params.get("MaxResults"), params.get("NextToken"))
    result: dict[str, Any] = {"PipelineExecutionSteps": copy.deepcopy(page)}
    if token:
        result["NextToken"] = token
    return result


def _response_list_pipeline_executions(self: Any) -> Any:
    from moto.core.responses import ActionResult

    names = ("PipelineName", "CreatedAfter", "CreatedBefore", "SortBy", "SortOrder", "NextToken", "MaxResults")
    return ActionResult(list_pipeline_executions(self.sagemaker_backend, **{n: self._get_param(n) for n in names}))


def _response_list_pipeline_execution_steps(self: Any) -> Any:
    from moto.core.responses import ActionResult

    names = ("PipelineExecutionArn", "NextToken", "MaxResults", "SortOrder")
    return ActionResult(list_pipeline_execution_steps(self.sagemaker_backend, **{n: self._get_param(n) for n in names}))


def apply() -> None:
    """Patch moto's SageMaker pipelines (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.sagemaker import models, responses

    original_get = models.get_pipeline_from_name
    original_start = models.SageMakerModelBackend.start_pipeline_execution

    def get_pipeline_from_name(pipelines: dict[str, Any], name: str) -> Any:
        return original_get(pipelines, pipeline_name(pipelines, name))

    def start_pipeline_execution(self: Any, pipeline_name_or_arn: str, *args: Any, **kwargs: Any) -> dict[str, str]:
        name = pipeline_name(self.pipelines, pipeline_name_or_arn)
        token = kwargs.get("client_request_token", args[4] if len(args) > 4 else None)
        pipeline = get_pipeline_from_name(self.pipelines, name)
        if token:
            for arn, execution in pipeline.pipeline_executions.items():
                if execution.client_request_token == token:
                    return {"PipelineExecutionArn": arn}
        response: dict[str, str] = original_start(self, name, *args, **kwargs)
        execution = pipeline.pipeline_executions[response["PipelineExecutionArn"]]
        execution.pipeline_execution_status = STARTED_STATUS
        return response

    def backend_list_executions(self: Any, pipeline_name: str, **params: Any) -> dict[str, Any]:
        return list_pipeline_executions(self, PipelineName=pipeline_name, **params)

    def backend_list_steps(self: Any, pipeline_execution_arn: str, **params: Any) -> dict[str, Any]:
        return list_pipeline_execution_steps(self, PipelineExecutionArn=pipeline_execution_arn, **params)

    models.get_pipeline_from_name = get_pipeline_from_name  # type: ignore[assignment]
    models.SageMakerModelBackend.start_pipeline_execution = start_pipeline_execution  # type: ignore[method-assign,assignment]
    models.SageMakerModelBackend.list_pipeline_executions = backend_list_executions  # type: ignore[method-assign]
    models.SageMakerModelBackend.list_pipeline_execution_steps = backend_list_steps  # type: ignore[attr-defined]
    responses.SageMakerResponse.list_pipeline_executions = _response_list_pipeline_executions  # type: ignore[method-assign]
    responses.SageMakerResponse.list_pipeline_execution_steps = _response_list_pipeline_execution_steps  # type: ignore[attr-defined]
    _applied = True


# ---------------------------------------------------------------- seeding
def _execution(arn: str, account_id: str | None, region: str) -> Any:
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    return get_pipeline_execution_from_arn(_backend(account_id, region).pipelines, arn)


def ensure_pipeline(name: str, *, role_arn: str | None = None, account_id: str | None = None,
                    region: str = "us-east-1") -> str:
    """The pipeline's ARN, creating it (one Training step named ``Train``) if it does not exist."""
    backend = _backend(account_id, region)
    if name not in backend.pipelines:
        definition = {"Version": "2020-12-01", "Parameters": [],
                      "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {}}]}
        backend.create_pipeline(
            pipeline_name=name, pipeline_display_name=name, pipeline_definition=json.dumps(definition),
            pipeline_definition_s3_location=None, pipeline_description="", tags=[], parallelism_configuration=None,
            role_arn=role_arn or f"arn:aws:iam::{backend.account_id}:role/greenrail-emulator-pipeline",
        )
    return str(backend.pipelines[name].arn)


def seed_pipeline_execution(
    pipeline: str,
    *,
    start_time: datetime,
    status: str = "Succeeded",
    end_time: datetime | None = None,
    parameters: dict[str, str] | None = None,
    display_name: str | None = None,
    description: str | None = None,
    failure_reason: str | None = None,
    client_request_token: str | None = None,
    account_id: str | None = None,
    region: str = "us-east-1",
) -> str:
    """A past execution of ``pipeline`` (created if missing, see :func:`ensure_pipeline`) that
    started at ``start_time`` and is now in ``status``; returns its ARN. ``end_time`` (default:
    one hour after the start, for a finished execution) is its last-modified time."""
    if status not in EXECUTION_STATUSES:
        raise ValueError(f"status must be one of {EXECUTION_STATUSES}, not {status!r}")
    ensure_pipeline(pipeline, account_id=account_id, region=region)
    backend = _backend(account_id, region)
    arn = backend.start_pipeline_execution(
        pipeline, display_name, [{"Name": k, "Value": str(v)} for k, v in (parameters or {}).items()],
        description, None, client_request_token or uuid.uuid4().hex,
    )["PipelineExecutionArn"]
    started = naive_utc(start_time)
    assert started is not None
    execution = _execution(arn, account_id, region)
    execution.creation_time = execution.start_time = started
    set_pipeline_execution_status(arn, status, end_time=end_time or started + timedelta(hours=1),
                                  failure_reason=failure_reason, account_id=account_id, region=region)
    return str(arn)


def set_pipeline_execution_status(
    execution_arn: str,
    status: str,
    *,
    end_time: datetime | None = None,
    failure_reason: str | None = None,
    account_id: str | None = None,
    region: str = "us-east-1",
) -> None:
    """Move an execution to ``status`` (e.g. a started one to ``Succeeded``)."""
    if status not in EXECUTION_STATUSES:
        raise ValueError(f"status must be one of {EXECUTION_STATUSES}, not {status!r}")
    execution = _execution(execution_arn, account_id, region)
    execution.pipeline_execution_status = status
    execution.pipeline_execution_failure_reason = failure_reason if status in ("Failed", "CompletedWithFailures") else None
    execution.last_modified_time = naive_utc(end_time) or now()
    pipeline = _backend(account_id, region).pipelines[execution_arn.split(":pipeline/", 1)[1].split("/")[0]]
    pipeline.last_execution_time = max(e.start_time for e in pipeline.pipeline_executions.values())


def seed_training_step(
    execution_arn: str,
    training_job_name: str,
    *,
    step_name: str = "Train",
    instance_type: str = "ml.m5.xlarge",
    instance_count: int = 1,
    training_seconds: int = 3600,
    start_time: datetime | None = None,
    status: str = "Succeeded",
    create_training_job: bool = True,
    account_id: str | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """Record a Training step of the execution whose ``Metadata.TrainingJob.Arn`` names
    ``training_job_name``; returns the step as ``ListPipelineExecutionSteps`` lists it.

    With ``create_training_job`` (and no job of that name yet) the training job is created in moto
    with ``ResourceConfig`` {instance_type, instance_count}, ``TrainingStartTime`` = the step's
    start (default: one minute after the execution's), ``TrainingEndTime`` ``training_seconds``
    later and ``BillableTimeInSeconds`` = ``training_seconds`` (wall-clock, per instance), in the
    job status matching the step's (Succeeded: Completed). No event is sent for it.
    """
    if status not in STEP_STATUSES:
        raise ValueError(f"status must be one of {STEP_STATUSES}, not {status!r}")
    backend = _backend(account_id, region)
    execution = _execution(execution_arn, account_id, region)
    start = naive_utc(start_time) or execution.start_time + timedelta(minutes=1)
    end = start + timedelta(seconds=training_seconds) if _JOB_STATUS[status] in ("Completed", "Failed", "Stopped") else None
    if create_training_job and training_job_name not in backend.training_jobs:
        job = backend.create_training_job(
            training_job_name=training_job_name, hyper_parameters={},
            algorithm_specification={"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File"},
            role_arn=f"arn:aws:iam::{backend.account_id}:role/greenrail-emulator-pipeline",
            input_data_config=[], output_data_config={"S3OutputPath": f"s3://greenrail-emulator-models/{training_job_name}"},
            resource_config={"InstanceType": instance_type, "InstanceCount": instance_count, "VolumeSizeInGB": 30},
            vpc_config=None, stopping_condition={"MaxRuntimeInSeconds": 86400}, tags=[],
            enable_network_isolation=False, enable_inter_container_traffic_encryption=False,
            enable_managed_spot_training=False, checkpoint_config=None, debug_hook_config=None,
            debug_rule_configurations=None, tensor_board_output_config=None, experiment_config=None,
        )
        job.training_job_status = _JOB_STATUS[status]
        job.secondary_status = {"InProgress": "Training"}.get(job.training_job_status, job.training_job_status)
        job.creation_time = start - timedelta(seconds=30)
        job.training_start_time = start
        job.training_end_time = end
        job.last_modified_time = end or start
        if end is not None:
            job.billable_time_in_seconds = job.training_time_in_seconds = training_seconds
    job_arn = backend.training_jobs[training_job_name].arn if training_job_name in backend.training_jobs else (
        f"arn:aws:sagemaker:{region}:{backend.account_id}:training-job/{training_job_name}")
    step: dict[str, Any] = {"StepName": step_name, "StepDisplayName": step_name, "StartTime": start}
    if end is not None:
        step["EndTime"] = end
    step.update({"StepStatus": status, "AttemptCount": 1, "Metadata": {"TrainingJob": {"Arn": job_arn}}})
    steps: list[dict[str, Any]] = execution.__dict__.setdefault(_STEPS, [])
    steps.append(step)
    return dict(step)
