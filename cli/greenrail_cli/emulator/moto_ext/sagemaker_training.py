"""moto extension: SageMaker training jobs that run, stop, and announce their state changes.

moto 5.2.5 creates every training job ``Completed`` (``FakeTrainingJob.__init__``) and has no
``StopTrainingJob``. Greenrail's training policy needs jobs that are ``InProgress``, a stop that
goes ``Stopping`` then ``Stopped`` the way SageMaker does, and the EventBridge event SageMaker
sends on each change. This module adds exactly that, by patching moto's classes in place:

* created jobs start ``InProgress`` (secondary status ``Training``), without an end time;
* ``StopTrainingJob`` (backend method and response action): an ``InProgress`` job becomes
  ``Stopping``; the first ``DescribeTrainingJob`` after the call still shows ``Stopping``, the
  next one ``Stopped`` (set :data:`STOPPING_DESCRIBES` to change how long it lingers). A job in
  any other status gets ``ValidationException``, an unknown job ``ResourceNotFound``, as on AWS;
* ``Search`` results for training jobs carry ``TrainingJobArn`` (moto puts ``Arn``);
* :func:`set_training_job_status` and :func:`training_job_state_change_event` for tests and the
  demo; :func:`stop_calls` counts accepted stops per job (tests assert "never stopped twice");
  :func:`throttle_stops` makes the next StopTrainingJob calls of a job fail with
  ``ThrottlingException``, as SageMaker does under load (a fault for tests to inject);
* model cards created without tags list none (moto keeps ``None`` and ``ListTags`` fails).

:func:`apply` is idempotent.
"""

from __future__ import annotations

import copy
import weakref
from datetime import datetime
from typing import Any, cast

from greenrail_cli.emulator.moto_ext.default_bus import service_event
from greenrail_cli.emulator.moto_ext.times import epoch_ms, naive_utc, now

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
STOPPING_DESCRIBES = 1  # DescribeTrainingJob calls that still answer "Stopping" after a stop

_applied = False


class _StopState:
    def __init__(self) -> None:
        self.calls = 0
        self.describes_left = 0
        self.throttled_left = 0


_stop_state: weakref.WeakKeyDictionary[Any, _StopState] = weakref.WeakKeyDictionary()


def _backend(account_id: str, region: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account_id][region]


def _default_account() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def _finish_stop(job: Any) -> None:
    job.training_job_status = "Stopped"
    job.secondary_status = "Stopped"
    job.training_end_time = job.last_modified_time = now()
    emit_state_change(job)


def emit_state_change(job: Any) -> None:
    """Send the job's ``SageMaker Training Job State Change`` event to the default bus's rules.

    SageMaker sends one on every status change; the emulator sends them for the terminal ones
    (Completed, Failed, Stopped), which the carbon policy reacts to. InProgress events are
    delivered by whoever creates the job (the demo, the tests), to control their timing.
    """
    from moto.events.models import events_backends

    _, _, _, region, account, _ = job.arn.split(":", 5)
    bus = events_backends[account][region].event_buses.get("default")
    if bus is None:
        return
    event = training_job_state_change_event(job.training_job_name, account, region)
    for rule in list(bus.rules.values()):
        rule.send_to_targets(cast(Any, copy.deepcopy(event)), transform_input=True)


def _advance(job: Any) -> None:
    """A describe moves a ``Stopping`` job towards ``Stopped``."""
    state = _stop_state.get(job)
    if job.training_job_status != "Stopping" or state is None:
        return
    if state.describes_left > 0:
        state.describes_left -= 1
        return
    _finish_stop(job)


def _job(backend: Any, name: str) -> Any:
    from moto.sagemaker.exceptions import ResourceNotFound

    job = backend.training_jobs.get(name)
    if job is None:
        raise ResourceNotFound(message=f"Requested resource not found: training job {name!r}")
    return job


def _backend_stop_training_job(self: Any, training_job_name: str) -> None:
    from moto.sagemaker.exceptions import ValidationError

    job = _job(self, training_job_name)
    state = _stop_state.setdefault(job, _StopState())
    if state.throttled_left > 0:
        state.throttled_left -= 1
        raise _throttling()
    if job.training_job_status != "InProgress":
        raise ValidationError(
            message=(
                f"The request was rejected because the training job is in status {job.training_job_status}."
            )
        )
    state.calls += 1
    state.describes_left = STOPPING_DESCRIBES
    job.training_job_status = "Stopping"
    job.secondary_status = "Stopping"
    job.last_modified_time = now()


def _throttling() -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("ThrottlingException", "Rate exceeded")


def _response_stop_training_job(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
    return EmptyResult()


def apply() -> None:
    """Patch moto's SageMaker model and response classes (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.sagemaker import models, responses

    original_init = models.FakeTrainingJob.__init__
    original_card_init = models.FakeModelCard.__init__
    original_describe = models.SageMakerModelBackend.describe_training_job
    original_search = models.SageMakerModelBackend.search

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.training_job_status = "InProgress"
        self.secondary_status = "Training"
        self.training_end_time = None
        self.secondary_status_transitions = [
            {"Status": "Starting", "StartTime": self.creation_time, "StatusMessage": "Launching instances"},
            {"Status": "Training", "StartTime": self.training_start_time, "StatusMessage": "Training"},
        ]

    def describe(self: Any, training_job_name: str) -> dict[str, Any]:
        job = self.training_jobs.get(training_job_name)
        if job is not None:
            _advance(job)
        return dict(original_describe(self, training_job_name))

    def search(self: Any, resource: Any = None, search_expression: Any = None) -> Any:
        result = original_search(self, resource=resource, search_expression=search_expression)
        if resource == "TrainingJob":
            for record in result.get("Results", []):
                job = record.get("TrainingJob", {})
                if "Arn" in job:
                    job["TrainingJobArn"] = job.pop("Arn")
                if job.get("TrainingEndTime") is None:
                    job.pop("TrainingEndTime", None)
        return result

    def card_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_card_init(self, *args, **kwargs)
        self.tags = self.tags or []

    models.FakeTrainingJob.__init__ = init  # type: ignore[method-assign]
    models.FakeModelCard.__init__ = card_init  # type: ignore[method-assign]
    models.SageMakerModelBackend.describe_training_job = describe  # type: ignore[method-assign]
    models.SageMakerModelBackend.search = search  # type: ignore[method-assign]
    models.SageMakerModelBackend.stop_training_job = _backend_stop_training_job  # type: ignore[attr-defined]
    responses.SageMakerResponse.stop_training_job = _response_stop_training_job  # type: ignore[attr-defined]
    _applied = True
    # Tuning jobs, processing jobs and warm pools: the training policy's other jobs.
    from greenrail_cli.emulator.moto_ext import sagemaker_tuning

    sagemaker_tuning.apply()


def set_training_job_status(
    name: str,
    status: str,
    *,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    secondary_status: str | None = None,
    billable_seconds: int | None = None,
    account_id: str | None = None,
    region: str = "us-east-1",
) -> None:
    """Put a training job in ``status``, e.g. to backdate its start (``start_time``)."""
    job = _job(_backend(account_id or _default_account(), region), name)
    job.training_job_status = status
    job.secondary_status = secondary_status or {"InProgress": "Training"}.get(status, status)
    if start_time is not None:
        job.training_start_time = naive_utc(start_time)
        job.creation_time = min(job.creation_time, job.training_start_time)
    if status in TERMINAL_STATUSES:
        job.training_end_time = naive_utc(end_time) if end_time else now()
    else:
        job.training_end_time = None
    if billable_seconds is not None:
        job.billable_time_in_seconds = billable_seconds
    job.last_modified_time = now()
    if status in TERMINAL_STATUSES:
        emit_state_change(job)


def throttle_stops(name: str, times: int, account_id: str | None = None, region: str = "us-east-1") -> None:
    """The job's next ``times`` StopTrainingJob calls fail with ``ThrottlingException`` (each of
    botocore's retries is a call: ``times`` at least its attempts outlasts them)."""
    job = _job(_backend(account_id or _default_account(), region), name)
    _stop_state.setdefault(job, _StopState()).throttled_left = times


def stop_calls(name: str, account_id: str | None = None, region: str = "us-east-1") -> int:
    """How many StopTrainingJob calls were accepted for the job."""
    job = _job(_backend(account_id or _default_account(), region), name)
    state = _stop_state.get(job)
    return state.calls if state else 0


def training_job_state_change_event(
    name: str, account_id: str | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """The ``SageMaker Training Job State Change`` event SageMaker would send for the job now.

    Shape: AWS docs, "Events that Amazon SageMaker AI sends to Amazon EventBridge" (times are
    epoch milliseconds as strings, tags a map).
    """
    account = account_id or _default_account()
    job = _job(_backend(account, region), name)
    detail: dict[str, Any] = {
        "TrainingJobName": job.training_job_name,
        "TrainingJobArn": job.arn,
        "TrainingJobStatus": job.training_job_status,
        "SecondaryStatus": job.secondary_status,
        "HyperParameters": job.hyper_parameters or {},
        "AlgorithmSpecification": {
            k: v for k, v in (job.algorithm_specification or {}).items() if k != "MetricDefinitions"
        },
        "RoleArn": job.role_arn,
        "ResourceConfig": job.resource_config,
        "StoppingCondition": job.stopping_condition or {"MaxRuntimeInSeconds": 86400},
        "EnableManagedSpotTraining": bool(job.enable_managed_spot_training),
        "CreationTime": epoch_ms(job.creation_time),
        "TrainingStartTime": epoch_ms(job.training_start_time),
        "LastModifiedTime": epoch_ms(job.last_modified_time),
        "Tags": {tag["Key"]: tag["Value"] for tag in job.tags},
    }
    if job.training_end_time is not None:
        detail["TrainingEndTime"] = epoch_ms(job.training_end_time)
    return service_event("aws.sagemaker", "SageMaker Training Job State Change", account, region, [job.arn],
                         {k: v for k, v in detail.items() if v is not None})


def age_in_progress_jobs(seconds: int, account_id: str | None = None, region: str = "us-east-1") -> None:
    """Move every InProgress job's start back by ``seconds``: a clock listener for the emulator,
    whose Wait states advance a clock offset rather than the wall clock the policy reads."""
    from datetime import timedelta

    for job in _backend(account_id or _default_account(), region).training_jobs.values():
        if job.training_job_status == "InProgress":
            job.training_start_time = job.training_start_time - timedelta(seconds=seconds)
            job.creation_time = min(job.creation_time, job.training_start_time)
