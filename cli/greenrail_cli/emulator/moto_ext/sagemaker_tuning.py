"""moto extension: tuning jobs, processing jobs and warm pools that run, stop and release.

moto 5.2.5 creates every hyperparameter tuning job ``Completed`` with fixed counters, has no
``StopHyperParameterTuningJob`` nor ``ListTrainingJobsForHyperParameterTuningJob``, cannot
``Search`` tuning jobs, creates processing jobs ``Completed`` without their ``ProcessingResources``
and stops them at once whatever their status, has no ``UpdateTrainingJob`` and no
``WarmPoolStatus``. The training policy needs each of those; this module adds exactly that:

* tuning jobs start ``InProgress``; :func:`launch_children` gives one its training jobs (created
  in moto's backend, statuses and start times as asked, no events); ``DescribeHyperParameterTuningJob``
  counts them (``TrainingJobStatusCounters``); ``ListTrainingJobsForHyperParameterTuningJob``
  pages them (``MaxResults`` <= 100, ``NextToken``); ``StopHyperParameterTuningJob`` moves an
  InProgress job to ``Stopping`` (then ``Stopped`` on the next describe) and stops its running
  training jobs; ``Search`` answers ``HyperParameterTuningJob`` (status filter, tags inline);
* processing jobs start ``InProgress`` with a start time and keep their ``ProcessingResources``;
  ``StopProcessingJob`` goes ``Stopping`` then ``Stopped`` like training jobs, and answers
  ``ValidationException`` for a job that is not InProgress;
* a finished training job with ``ResourceConfig.KeepAlivePeriodInSeconds`` has a
  ``WarmPoolStatus`` (``Available`` until the keep-alive ends, then ``Terminated``);
  ``UpdateTrainingJob`` with ``KeepAlivePeriodInSeconds: 0`` releases it (``Terminated``);
  ``ListTrainingJobs`` honours ``WarmPoolStatusEquals``.

Emulated time: :func:`age` moves running tuning children, processing jobs and ended warm-pool
jobs back by the clock's step (a clock listener, like ``sagemaker_training.age_in_progress_jobs``).
:func:`apply` is idempotent; ``sagemaker_training.apply`` calls it.
"""

from __future__ import annotations

import weakref
from datetime import datetime, timedelta
from typing import Any

from greenrail_cli.emulator.moto_ext.default_bus import service_event
from greenrail_cli.emulator.moto_ext.times import epoch_ms, naive_utc, now

PAGE_MAX = 100
_applied = False
# Per tuning job: its training jobs' names, in launch order. Per job object: stop bookkeeping.
_children: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()
_stopping: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # describes left as Stopping
_stops: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # accepted stop calls
_warm: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # warm pool status override


def _backend(account_id: str | None, region: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account_id or DEFAULT_ACCOUNT_ID][region]


def _not_found(kind: str, name: str) -> Exception:
    from moto.sagemaker.exceptions import ResourceNotFound

    return ResourceNotFound(message=f"Requested resource not found: {kind} {name!r}")


def _invalid(message: str) -> Exception:
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError(message=message)


# ---------------------------------------------------------------- tuning jobs
def _tuning(backend: Any, name: str) -> Any:
    job = backend.hyper_parameter_tuning_jobs.get(name)
    if job is None:
        raise _not_found("hyper-parameter tuning job", name)
    return job


def _child_jobs(backend: Any, job: Any) -> list[Any]:
    return [backend.training_jobs[n] for n in _children.get(job, []) if n in backend.training_jobs]


def _counters(backend: Any, job: Any) -> dict[str, int]:
    counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    for child in _child_jobs(backend, job):
        status = child.training_job_status
        key = {"Failed": "NonRetryableError", "Stopping": "Stopped"}.get(status, status)
        counters[key] = counters.get(key, 0) + 1
    return counters


def _describe_tuning(backend: Any, name: str) -> dict[str, Any]:
    job = _tuning(backend, name)
    if job.hyper_parameter_tuning_job_status == "Stopping":
        left = _stopping.get(job, 0)
        if left > 0:
            _stopping[job] = left - 1
        else:
            job.hyper_parameter_tuning_job_status = "Stopped"
            job.hyper_parameter_tuning_end_time = job.last_modified_time = now()
            emit_tuning_state_change(job)
    job.training_job_status_counters = _counters(backend, job)
    described = job.describe()
    return {k: v for k, v in described.items() if v is not None}


def launch_children(tuning_name: str, count: int, *, running: int = 0, hours_each: float = 1.0,
                    running_hours: float = 0.5, account_id: str | None = None, region: str = "us-east-1") -> list[str]:
    """Create ``count`` training jobs of the tuning job: the last ``running`` InProgress (started
    ``running_hours`` ago), the others Completed after ``hours_each`` hours each. No events."""
    backend = _backend(account_id, region)
    job = _tuning(backend, tuning_name)
    definition = job.training_job_definition or (job.training_job_definitions or [{}])[0]
    names = _children.setdefault(job, [])
    created = []
    start = now() - timedelta(hours=hours_each * (count - running) + running_hours)
    for index in range(count):
        name = f"{tuning_name}-{len(names) + 1:03d}-{index:04x}"[:63]
        backend.create_training_job(
            training_job_name=name, hyper_parameters=definition.get("StaticHyperParameters") or {},
            algorithm_specification=definition.get("AlgorithmSpecification") or {"TrainingImage": "img:1"},
            role_arn=definition.get("RoleArn") or "arn:aws:iam::123456789012:role/SageMaker",
            input_data_config=definition.get("InputDataConfig") or [],
            output_data_config=definition.get("OutputDataConfig") or {"S3OutputPath": "s3://out/"},
            resource_config=definition.get("ResourceConfig") or {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
            vpc_config=None, stopping_condition=definition.get("StoppingCondition") or {"MaxRuntimeInSeconds": 86400},
            tags=[], enable_network_isolation=False, enable_inter_container_traffic_encryption=False,
            enable_managed_spot_training=False, checkpoint_config=None, debug_hook_config=None,
            debug_rule_configurations=None, tensor_board_output_config=None, experiment_config=None,
        )
        child = backend.training_jobs[name]
        child.tuning_job_name = tuning_name
        if index < count - running:
            child.training_start_time = start + timedelta(hours=hours_each * index)
            child.training_end_time = child.training_start_time + timedelta(hours=hours_each)
            child.training_job_status = child.secondary_status = "Completed"
        else:
            child.training_start_time = now() - timedelta(hours=running_hours)
        child.creation_time = child.last_modified_time = child.training_start_time
        names.append(name)
        created.append(name)
    return created


def _summary(child: Any, tuning_name: str) -> dict[str, Any]:
    summary = {
        "TrainingJobName": child.training_job_name, "TrainingJobArn": child.arn, "TuningJobName": tuning_name,
        "CreationTime": child.creation_time, "TrainingStartTime": child.training_start_time,
        "TrainingEndTime": child.training_end_time, "TrainingJobStatus": child.training_job_status,
        "TunedHyperParameters": child.hyper_parameters or {},
    }
    return {k: v for k, v in summary.items() if v is not None}


def _list_children(backend: Any, name: str, max_results: int | None, token: str | None) -> dict[str, Any]:
    job = _tuning(backend, name)
    size = max_results or PAGE_MAX
    if not 1 <= size <= PAGE_MAX:
        raise _invalid(f"Value '{size}' at 'maxResults' failed to satisfy constraint: Member must have value "
                       f"less than or equal to {PAGE_MAX}")
    start = int(token or 0)
    children = _child_jobs(backend, job)
    page = children[start:start + size]
    result: dict[str, Any] = {"TrainingJobSummaries": [_summary(c, name) for c in page]}
    if start + size < len(children):
        result["NextToken"] = str(start + size)
    return result


def _stop_tuning(backend: Any, name: str) -> None:
    job = _tuning(backend, name)
    if job.hyper_parameter_tuning_job_status != "InProgress":
        raise _invalid(f"The request was rejected because the tuning job is in status "
                       f"{job.hyper_parameter_tuning_job_status}.")
    _stops[job] = _stops.get(job, 0) + 1
    _stopping[job] = 1
    job.hyper_parameter_tuning_job_status = "Stopping"
    job.last_modified_time = now()
    for child in _child_jobs(backend, job):
        if child.training_job_status == "InProgress":
            child.training_job_status = child.secondary_status = "Stopped"
            child.training_end_time = child.last_modified_time = now()


def complete_tuning_job(name: str, account_id: str | None = None, region: str = "us-east-1") -> None:
    """The tuning job (and its running training jobs) Completed, its state change sent."""
    backend = _backend(account_id, region)
    job = _tuning(backend, name)
    if job.hyper_parameter_tuning_job_status != "InProgress":
        return
    for child in _child_jobs(backend, job):
        if child.training_job_status == "InProgress":
            child.training_job_status = child.secondary_status = "Completed"
            child.training_end_time = child.last_modified_time = now()
    job.hyper_parameter_tuning_job_status = "Completed"
    job.hyper_parameter_tuning_end_time = job.last_modified_time = now()
    emit_tuning_state_change(job)


def tuning_stop_calls(name: str, account_id: str | None = None, region: str = "us-east-1") -> int:
    return _stops.get(_tuning(_backend(account_id, region), name), 0)


def tuning_job_state_change_event(name: str, account_id: str | None = None, region: str = "us-east-1") -> dict[str, Any]:
    """The ``SageMaker HyperParameter Tuning Job State Change`` event SageMaker would send now.

    Shape: AWS docs, "Events that Amazon SageMaker AI sends to Amazon EventBridge" (hyperparameter
    tuning job state change): the training job definition, status, counters, times as epoch
    milliseconds, tags as a map; no ``HyperParameterTuningJobConfig`` (hence no ``Strategy``).
    """
    from moto.core import DEFAULT_ACCOUNT_ID

    account = account_id or str(DEFAULT_ACCOUNT_ID)
    backend = _backend(account, region)
    job = _tuning(backend, name)
    detail: dict[str, Any] = {
        "HyperParameterTuningJobName": job.hyper_parameter_tuning_job_name,
        "HyperParameterTuningJobArn": job.arn,
        "TrainingJobDefinition": job.training_job_definition or {},
        "HyperParameterTuningJobStatus": job.hyper_parameter_tuning_job_status,
        "CreationTime": epoch_ms(job.creation_time),
        "LastModifiedTime": epoch_ms(job.last_modified_time),
        "TrainingJobStatusCounters": _counters(backend, job),
        "ObjectiveStatusCounters": {"Succeeded": 0, "Pending": 0, "Failed": 0},
        "Tags": {tag["Key"]: tag["Value"] for tag in job.tags or []},
    }
    return service_event("aws.sagemaker", "SageMaker HyperParameter Tuning Job State Change", account, region,
                         [job.arn], detail)


def emit_tuning_state_change(job: Any) -> None:
    from greenrail_cli.emulator.moto_ext import default_bus

    _, _, _, region, account, _ = job.arn.split(":", 5)
    default_bus.deliver(tuning_job_state_change_event(job.hyper_parameter_tuning_job_name, account, region))


def _search_tuning(backend: Any, search_expression: Any) -> dict[str, Any]:
    filters = (search_expression or {}).get("Filters") or []
    results = []
    for name, job in backend.hyper_parameter_tuning_jobs.items():
        described = _describe_tuning(backend, name)
        if all(f.get("Operator", "Equals") != "Equals" or str(described.get(f["Name"])) == f["Value"] for f in filters):
            results.append({"HyperParameterTuningJob": {**described, "Tags": list(job.tags or [])}})
    return {"Results": results}


# ---------------------------------------------------------------- processing jobs
def _processing(backend: Any, name: str) -> Any:
    job = backend.processing_jobs.get(name)
    if job is None:
        raise _invalid(f"Could not find processing job '{name}'.")
    return job


def _stop_processing(backend: Any, name: str) -> None:
    job = _processing(backend, name)
    if job.processing_job_status != "InProgress":
        raise _invalid(f"The request was rejected because the processing job is in status {job.processing_job_status}.")
    _stops[job] = _stops.get(job, 0) + 1
    _stopping[job] = 1
    job.processing_job_status = "Stopping"
    job.last_modified_time = now()


def _advance_processing(job: Any) -> None:
    if job.processing_job_status != "Stopping":
        return
    left = _stopping.get(job, 0)
    if left > 0:
        _stopping[job] = left - 1
        return
    job.processing_job_status = "Stopped"
    job.processing_end_time = job.last_modified_time = now()


def processing_stop_calls(name: str, account_id: str | None = None, region: str = "us-east-1") -> int:
    return _stops.get(_processing(_backend(account_id, region), name), 0)


def set_processing_job(name: str, *, status: str | None = None, start_time: datetime | None = None,
                       instance_type: str | None = None, instance_count: int = 1,
                       monitoring_schedule_arn: str | None = None, account_id: str | None = None,
                       region: str = "us-east-1") -> None:
    """Backdate a processing job's start, set its status, instances or monitoring schedule."""
    job = _processing(_backend(account_id, region), name)
    if status is not None:
        job.processing_job_status = status
        job.processing_end_time = now() if status in ("Completed", "Failed", "Stopped") else None
    if start_time is not None:
        job.processing_start_time = naive_utc(start_time)
        job.creation_time = min(job.creation_time, job.processing_start_time)
    if instance_type is not None:
        job.processing_resources = {"ClusterConfig": {"InstanceCount": instance_count, "InstanceType": instance_type,
                                                      "VolumeSizeInGB": 30}}
    if monitoring_schedule_arn is not None:
        job.monitoring_schedule_arn = monitoring_schedule_arn
    job.last_modified_time = now()


# ---------------------------------------------------------------- warm pools
def warm_pool_status(job: Any) -> dict[str, Any] | None:
    keep_alive = int((job.resource_config or {}).get("KeepAlivePeriodInSeconds") or 0)
    override = _warm.get(job)
    if override is None and (keep_alive <= 0 or job.training_end_time is None
                             or job.training_job_status not in ("Completed", "Stopped")):
        return None
    retained = (now() - job.training_end_time).total_seconds() if job.training_end_time else 0
    status = override or ("Available" if retained < keep_alive else "Terminated")
    return {"Status": status, "ResourceRetainedBillableTimeInSeconds": int(min(retained, keep_alive or retained))}


def _update_training_job(backend: Any, name: str, resource_config: dict[str, Any] | None) -> str:
    job = backend.training_jobs.get(name)
    if job is None:
        raise _not_found("training job", name)
    keep_alive = (resource_config or {}).get("KeepAlivePeriodInSeconds")
    if keep_alive is not None:
        current = warm_pool_status(job)
        if job.training_job_status == "InProgress":
            pass  # the running job's keep-alive changes for later
        elif current is None or current["Status"] != "Available":
            raise _invalid(f"The warm pool of training job {name} is not Available.")
        elif int(keep_alive) == 0:
            _warm[job] = "Terminated"
        job.resource_config = {**(job.resource_config or {}), "KeepAlivePeriodInSeconds": int(keep_alive)}
    job.last_modified_time = now()
    return str(job.arn)


# ---------------------------------------------------------------- emulated time
def age(seconds: int, account_id: str | None = None, region: str = "us-east-1") -> None:
    """Move running processing jobs' starts and ended warm-pool jobs' ends back by ``seconds``
    (running tuning children are training jobs: ``sagemaker_training.age_in_progress_jobs``)."""
    backend = _backend(account_id, region)
    step = timedelta(seconds=seconds)
    for job in backend.processing_jobs.values():
        if job.processing_job_status == "InProgress" and getattr(job, "processing_start_time", None):
            job.processing_start_time -= step
            job.creation_time = min(job.creation_time, job.processing_start_time)
    for job in backend.training_jobs.values():
        if job.training_end_time is not None and warm_pool_status(job) is not None and job not in _warm:
            job.training_end_time -= step


# ---------------------------------------------------------------- patches
def apply() -> None:  # noqa: C901 - one patch per gap, kept together
    """Patch moto's SageMaker model and response classes (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.core.responses import EmptyResult
    from moto.sagemaker import models, responses

    original_tuning_init = models.HyperParameterTuningJob.__init__
    original_processing_init = models.FakeProcessingJob.__init__
    original_describe_training = models.SageMakerModelBackend.describe_training_job
    original_describe_processing = models.SageMakerModelBackend.describe_processing_job
    original_search = models.SageMakerModelBackend.search
    original_create_processing = responses.SageMakerResponse.create_processing_job
    original_list_training = responses.SageMakerResponse.list_training_jobs

    def tuning_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_tuning_init(self, *args, **kwargs)
        self.hyper_parameter_tuning_job_status = "InProgress"
        self.hyper_parameter_tuning_end_time = None
        self.tags = self.tags or []
        self.best_training_job = None
        self.OverallBestTrainingJob = None
        self.tuning_job_completion_details = None
        self.consumed_resources = None

    def processing_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_processing_init(self, *args, **kwargs)
        self.processing_job_status = "InProgress"
        self.processing_start_time = self.creation_time
        self.processing_end_time = None

    def describe_training(self: Any, training_job_name: str) -> dict[str, Any]:
        described = dict(original_describe_training(self, training_job_name))
        warm = warm_pool_status(self.training_jobs[training_job_name])
        if warm is not None:
            described["WarmPoolStatus"] = warm
        return described

    def describe_processing(self: Any, processing_job_name: str) -> dict[str, Any]:
        job = self.processing_jobs.get(processing_job_name)
        if job is not None:
            _advance_processing(job)
        return dict(original_describe_processing(self, processing_job_name))

    def search(self: Any, resource: Any = None, search_expression: Any = None) -> Any:
        if resource == "HyperParameterTuningJob":
            return _search_tuning(self, search_expression)
        return original_search(self, resource=resource, search_expression=search_expression)

    def create_processing(self: Any) -> Any:
        result = original_create_processing(self)
        job = self.sagemaker_backend.processing_jobs[self._get_param("ProcessingJobName")]
        job.processing_resources = self._get_param("ProcessingResources")
        return result

    def list_training(self: Any) -> Any:
        wanted = self._get_param("WarmPoolStatusEquals")
        if wanted is None:
            return original_list_training(self)
        from moto.core.responses import ActionResult

        summaries = []
        for job in self.sagemaker_backend.training_jobs.values():
            warm = warm_pool_status(job)
            if warm is not None and warm["Status"] == wanted:
                summaries.append({"TrainingJobName": job.training_job_name, "TrainingJobArn": job.arn,
                                  "CreationTime": job.creation_time, "TrainingEndTime": job.training_end_time,
                                  "LastModifiedTime": job.last_modified_time,
                                  "TrainingJobStatus": job.training_job_status, "WarmPoolStatus": warm})
        return ActionResult({"TrainingJobSummaries": summaries})

    def describe_tuning_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        return ActionResult(_describe_tuning(self.sagemaker_backend, self._get_param("HyperParameterTuningJobName")))

    def list_children_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        return ActionResult(_list_children(self.sagemaker_backend, self._get_param("HyperParameterTuningJobName"),
                                           self._get_int_param("MaxResults"), self._get_param("NextToken")))

    def stop_tuning_response(self: Any) -> Any:
        _stop_tuning(self.sagemaker_backend, self._get_param("HyperParameterTuningJobName"))
        return EmptyResult()

    def stop_processing_response(self: Any) -> Any:
        _stop_processing(self.sagemaker_backend, self._get_param("ProcessingJobName"))
        return EmptyResult()

    def update_training_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        arn = _update_training_job(self.sagemaker_backend, self._get_param("TrainingJobName"),
                                   self._get_param("ResourceConfig"))
        return ActionResult({"TrainingJobArn": arn})

    models.HyperParameterTuningJob.__init__ = tuning_init  # type: ignore[method-assign]
    models.FakeProcessingJob.__init__ = processing_init  # type: ignore[method-assign]
    models.SageMakerModelBackend.describe_training_job = describe_training  # type: ignore[method-assign]
    models.SageMakerModelBackend.describe_processing_job = describe_processing  # type: ignore[method-assign]
    models.SageMakerModelBackend.search = search  # type: ignore[method-assign]
    responses.SageMakerResponse.create_processing_job = create_processing  # type: ignore[method-assign]
    responses.SageMakerResponse.list_training_jobs = list_training  # type: ignore[method-assign]
    responses.SageMakerResponse.describe_hyper_parameter_tuning_job = describe_tuning_response  # type: ignore[method-assign]
    responses.SageMakerResponse.list_training_jobs_for_hyper_parameter_tuning_job = list_children_response  # type: ignore[attr-defined]
    responses.SageMakerResponse.stop_hyper_parameter_tuning_job = stop_tuning_response  # type: ignore[attr-defined]
    responses.SageMakerResponse.stop_processing_job = stop_processing_response  # type: ignore[method-assign]
    responses.SageMakerResponse.update_training_job = update_training_response  # type: ignore[attr-defined]
    _applied = True
