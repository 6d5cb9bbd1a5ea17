"""moto extension: Inference Recommender jobs, guarded endpoint updates, endpoint events.

moto 5.2.5 has no Inference Recommender API and no ``UpdateEndpoint`` at all; endpoints are
``InService`` from the start and never announce anything. The endpoints policy needs both, with
time passing on the emulator's clock (never a sleep). This module adds:

**Inference Recommender** (request and response shapes of botocore's SageMaker model):

* ``CreateInferenceRecommendationsJob`` (``Default`` or ``Advanced``): the job is ``IN_PROGRESS``
  and ``COMPLETED`` once :data:`DEFAULT_JOB_SECONDS` (45 minutes) of emulated time have passed
  (``Advanced``: its ``JobDurationInSeconds``, else :data:`ADVANCED_JOB_SECONDS`). Its results
  come from the catalogue seeded for the model (:func:`seed_recommendation_catalogue`, which can
  also make the job fail or never finish) or are generated plausibly from a price list
  (:data:`INSTANCES`), deterministic per model. ``Advanced`` jobs get one recommendation per
  ``EndpointConfigurations`` entry (instance type or ``ServerlessConfig``). A name in use:
  ``ResourceInUse``; neither ``ModelName`` nor ``ModelPackageVersionArn``, or an unknown model:
  ``ValidationException``;
* ``DescribeInferenceRecommendationsJob``: ``InferenceRecommendations`` of ``Metrics``
  (``CostPerHour``, ``CostPerInference``, ``MaxInvocations`` per minute, ``ModelLatency`` in
  milliseconds, ``CpuUtilization``, ``MemoryUtilization``; ``ModelSetupTime`` for serverless),
  ``EndpointConfiguration`` (``EndpointName``/``VariantName`` of Inference Recommender's own test
  endpoint, ``InstanceType`` and ``InitialInstanceCount`` or ``ServerlessConfig``),
  ``ModelConfiguration`` and ``RecommendationId``; unknown job: ``ResourceNotFound``;
* ``ListInferenceRecommendationsJobs``: ``ModelNameEquals``, ``ModelPackageVersionArnEquals``,
  ``StatusEquals``, ``NameContains``, ``CreationTime``/``LastModifiedTime`` bounds (exclusive),
  ``SortBy`` (``Name``, ``CreationTime`` (default), ``Status``), ``SortOrder`` (default
  ``Descending``), ``MaxResults`` (default 100) and ``NextToken``;
* ``StopInferenceRecommendationsJob``: ``STOPPING``, then ``STOPPED`` :data:`STOP_SECONDS` later;
  a finished job: ``ValidationException``;
* :func:`seed_recommendations_job` stores a job in any status with any recommendations, malformed
  ones included (missing keys, ``NaN``); :func:`recommendation` builds a well-formed one.

**Endpoint updates** (``UpdateEndpoint``, blue/green as deployment guardrails run it):

* the endpoint goes ``Updating`` (``LastDeploymentConfig`` is the request's ``DeploymentConfig``,
  or the last one with ``RetainDeploymentConfig``); the new fleet is created
  (:data:`PROVISION_SECONDS`), then traffic shifts: ``ALL_AT_ONCE``, ``CANARY`` (``CanarySize``,
  then bake ``WaitIntervalInSeconds``, then the rest) or ``LINEAR`` (``LinearStepSize`` steps,
  each baked ``WaitIntervalInSeconds``); each step ``ActivatingTraffic``
  (:data:`ACTIVATE_SECONDS`); then ``Baking`` for ``TerminationWaitInSeconds`` on full capacity;
  then the new config is in service (``InService``, variants of the new config);
* a named ``AutoRollbackConfiguration`` alarm in ``ALARM`` at any time before that, or the
  deployment outliving ``MaximumExecutionTimeoutInSeconds``: ``RollingBack`` for
  :data:`ROLLBACK_SECONDS`, then ``InService`` with the OLD config and variants,
  ``LastDeploymentConfig`` kept and ``FailureReason`` saying why;
* ``DescribeEndpoint`` shows ``PendingDeploymentSummary`` (the new config's variants with
  ``VariantStatus`` ``Creating``/``ActivatingTraffic``/``Baking``/``Deleting``, status messages as
  in the SageMaker guide) during a deployment, ``VariantStatus`` (empty when idle), weights
  defaulting to 1.0, ``CurrentServerlessConfig`` for serverless variants;
* refused as SageMaker refuses: an endpoint ``Creating``/``Updating``/``SystemUpdating``/
  ``RollingBack``/``Deleting`` (``ValidationException`` ``Cannot update in-progress endpoint``),
  an unknown endpoint, config or alarm, a canary above 50% or a linear step outside 10-50% of the
  variant's instances, ``CANARY``/``LINEAR`` without its size; :func:`fail_next_updates` makes the
  next calls for an endpoint fail with ``ResourceLimitExceeded`` (or any code);
* ``DeleteEndpoint`` deletes the endpoint only (moto already keeps the endpoint config).

**Events** on the default bus (``default_bus``), as the transitions happen on the clock:
``SageMaker Endpoint State Change`` on each ``EndpointStatus`` change (``UPDATING``,
``ROLLING_BACK``, ``IN_SERVICE``) and ``SageMaker Endpoint Deployment State Change`` on each
deployment step. Both details have the SageMaker guide's shape: ``EndpointName``,
``EndpointArn``, ``EndpointConfigName``, ``ProductionVariants``, ``EndpointStatus`` (upper case),
``CreationTime``/``LastModifiedTime`` (epoch milliseconds), ``Tags`` (a map), plus
``PendingDeploymentSummary`` while one is pending and ``FailureReason`` after a rollback. (The
guide documents no separate deployment ``State`` field: the step is the pending variants'
``VariantStatus``.) :func:`endpoint_state_change_event` builds the event for an endpoint now
(the emulator sends none on CreateEndpoint; a demo delivers it).

**Time**: work in flight progresses by emulated seconds: wall time since it started plus how far
the emulator's clock (``hooks.clock``) advanced since. A clock listener (registered when work
starts) moves everything on at each ``advance``, so events fire at the transition; describes and
lists, alarm state changes and :func:`progress` do too. Recorded times are wall-clock at the
moment a transition is applied (what the functions compare with). :func:`apply` is idempotent.
"""

from __future__ import annotations

import copy
import hashlib
import math
import threading
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from greenrail_cli.emulator.moto_ext import default_bus, hooks
from greenrail_cli.emulator.moto_ext.sagemaker_pipelines import _page, _validation
from greenrail_cli.emulator.moto_ext.times import naive_utc, now

DEFAULT_JOB_SECONDS = 45 * 60
ADVANCED_JOB_SECONDS = 2 * 3600
STOP_SECONDS = 60
PROVISION_SECONDS = 300
ACTIVATE_SECONDS = 60
ROLLBACK_SECONDS = 120
JOB_STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "STOPPING", "STOPPED", "DELETING", "DELETED")
FINISHED_JOB_STATUSES = frozenset({"COMPLETED", "FAILED", "STOPPED", "DELETING", "DELETED"})
IN_PROGRESS_ENDPOINT_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
DEFAULT_ROLE = "arn:aws:iam::123456789012:role/SageMakerInferenceRecommender"

# Instance type -> (vCPUs, memory GiB, on-demand $/hour for real-time inference, us-east-1).
INSTANCES: dict[str, tuple[int, int, float]] = {
    "ml.c5.large": (2, 4, 0.102), "ml.c5.xlarge": (4, 8, 0.204), "ml.c5.2xlarge": (8, 16, 0.408),
    "ml.c6i.large": (2, 4, 0.102), "ml.c6i.xlarge": (4, 8, 0.204), "ml.c6i.2xlarge": (8, 16, 0.408),
    "ml.m5.large": (2, 8, 0.115), "ml.m5.xlarge": (4, 16, 0.23), "ml.m5.2xlarge": (8, 32, 0.461),
    "ml.m5.4xlarge": (16, 64, 0.922), "ml.r5.large": (2, 16, 0.151), "ml.r5.xlarge": (4, 32, 0.302),
    "ml.g4dn.xlarge": (4, 16, 0.736), "ml.g5.xlarge": (4, 16, 1.408),
}
DEFAULT_JOB_INSTANCES = ("ml.c5.large", "ml.c5.xlarge", "ml.m5.large", "ml.m5.xlarge", "ml.c6i.xlarge")
_UPPER = {"InService": "IN_SERVICE", "Updating": "UPDATING", "RollingBack": "ROLLING_BACK", "Creating": "CREATING",
          "SystemUpdating": "SYSTEM_UPDATING", "OutOfService": "OUT_OF_SERVICE", "Deleting": "DELETING",
          "Failed": "FAILED", "UpdateRollbackFailed": "UPDATE_ROLLBACK_FAILED"}

_applied = False
_lock = threading.RLock()
_backends: weakref.WeakSet[Any] = weakref.WeakSet()  # SageMaker backends with work in flight
_deployments: weakref.WeakKeyDictionary[Any, _Deployment] = weakref.WeakKeyDictionary()
_JOBS = "greenrail_recommendation_jobs"
_CATALOGUE = "greenrail_recommendation_catalogue"
_FAULTS = "greenrail_update_endpoint_faults"


# ---------------------------------------------------------------- time
class _Stopwatch:
    """Emulated seconds since it started: wall time plus the emulator clock's advance."""

    def __init__(self, already: float = 0.0) -> None:
        self.wall = now()
        self.offset = _offset()
        self.already = already

    def elapsed(self) -> float:
        return (now() - self.wall).total_seconds() + (_offset() - self.offset).total_seconds() + self.already


def _offset() -> timedelta:
    return hooks.clock.offset if hooks.clock is not None else timedelta(0)


def _on_advance(seconds: int) -> None:
    progress()


def _listen() -> None:
    """Make the current emulator clock move this module's work on at each advance."""
    clock = hooks.clock
    if clock is not None and _on_advance not in clock.listeners:
        clock.listeners.append(_on_advance)


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


# ---------------------------------------------------------------- moto plumbing
def _default_account() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def _backend(account_id: str | None = None, region: str = "us-east-1") -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account_id or _default_account()][region]


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _jobs(backend: Any) -> dict[str, RecommendationJob]:
    result: dict[str, RecommendationJob] = backend.__dict__.setdefault(_JOBS, {})
    return result


def _arn(backend: Any, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:{kind}/{name}"


# ---------------------------------------------------------------- Inference Recommender
@dataclass
class _CatalogueEntry:
    recommendations: list[dict[str, Any]] | None
    failure_reason: str | None
    duration_seconds: float | None


@dataclass
class RecommendationJob:
    name: str
    arn: str
    job_type: str
    role_arn: str
    input_config: dict[str, Any]
    status: str
    creation_time: datetime
    last_modified_time: datetime
    description: str = ""
    stopping_conditions: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    completion_time: datetime | None = None
    failure_reason: str | None = None
    recommendations: list[dict[str, Any]] | None = None
    # in flight: finish after ``duration`` emulated seconds, failing with ``fail_with`` if set
    watch: _Stopwatch | None = None
    duration: float = DEFAULT_JOB_SECONDS
    fail_with: str | None = None

    @property
    def model_name(self) -> str | None:
        return self.input_config.get("ModelName")

    @property
    def model_package_version_arn(self) -> str | None:
        return self.input_config.get("ModelPackageVersionArn")

    def describe(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "JobName": self.name, "JobDescription": self.description, "JobType": self.job_type, "JobArn": self.arn,
            "RoleArn": self.role_arn, "Status": self.status, "CreationTime": self.creation_time,
            "CompletionTime": self.completion_time, "LastModifiedTime": self.last_modified_time,
            "FailureReason": self.failure_reason, "InputConfig": copy.deepcopy(self.input_config),
            "StoppingConditions": copy.deepcopy(self.stopping_conditions),
            "OutputConfig": copy.deepcopy(self.output_config),
        }
        if self.status == "COMPLETED" and self.recommendations:
            result["InferenceRecommendations"] = [_answerable(r) for r in self.recommendations]
        return {k: v for k, v in result.items() if v is not None}

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "JobName": self.name, "JobDescription": self.description, "JobType": self.job_type, "JobArn": self.arn,
            "Status": self.status, "CreationTime": self.creation_time, "CompletionTime": self.completion_time,
            "RoleArn": self.role_arn, "LastModifiedTime": self.last_modified_time,
            "FailureReason": self.failure_reason, "ModelName": self.model_name,
            "SamplePayloadUrl": (self.input_config.get("ContainerConfig") or {}).get("PayloadConfig", {}).get(
                "SamplePayloadUrl"),
            "ModelPackageVersionArn": self.model_package_version_arn,
        }
        return {k: v for k, v in result.items() if v is not None}

    def advance(self) -> None:
        if self.watch is None:
            return
        elapsed = self.watch.elapsed()
        if self.status == "STOPPING" and elapsed >= STOP_SECONDS:
            self._finish("STOPPED")
        elif self.status in ("PENDING", "IN_PROGRESS") and elapsed >= self.duration:
            if self.fail_with:
                self._finish("FAILED", self.fail_with)
            else:
                self._finish("COMPLETED")

    def _finish(self, status: str, reason: str | None = None) -> None:
        self.status = status
        self.failure_reason = reason
        self.completion_time = self.last_modified_time = now()
        self.watch = None


# RecommendationMetrics' Integer members: a NaN or infinite value has no integer form on the wire,
# so the answer leaves the metric out, as a missing one (the Float members carry NaN as JSON does)
INTEGER_METRICS = ("MaxInvocations", "ModelLatency", "ModelSetupTime")


def _answerable(recommendation: dict[str, Any]) -> dict[str, Any]:
    """A seeded recommendation as DescribeInferenceRecommendationsJob can answer it."""
    answer = copy.deepcopy(recommendation)
    metrics = answer.get("Metrics")
    if isinstance(metrics, dict):
        answer["Metrics"] = {k: v for k, v in metrics.items() if not (
            k in INTEGER_METRICS and isinstance(v, float) and not math.isfinite(v))}
    return answer


def recommendation(
    instance_type: str | None = "ml.c5.large",
    *,
    cost_per_hour: float | None = None,
    max_invocations: int | float | None = 1000,
    model_latency_ms: int | float | None = 20,
    instance_count: int = 1,
    cpu_utilization: float | None = 70.0,
    memory_utilization: float | None = 30.0,
    cost_per_inference: float | None = None,
    model_setup_time: int | None = None,
    serverless_config: dict[str, Any] | None = None,
    environment: dict[str, str] | None = None,
    job_name: str = "job",
) -> dict[str, Any]:
    """One ``InferenceRecommendation`` as Inference Recommender reports it. ``None`` leaves a
    metric out; pass ``float("nan")`` for a NaN (a NaN Integer metric,
    ``MaxInvocations``, ``ModelLatency`` or ``ModelSetupTime``, is answered missing: it has no
    integer form). ``cost_per_hour`` defaults to
    :data:`INSTANCES`' price times ``instance_count``; ``cost_per_inference`` to the hourly cost
    over an hour at ``max_invocations`` per minute."""
    test_endpoint = f"sm-epc-{uuid.uuid4()}"
    if cost_per_hour is None and instance_type in INSTANCES:
        cost_per_hour = round(INSTANCES[instance_type][2] * instance_count, 4)
    if cost_per_inference is None and cost_per_hour is not None and max_invocations:
        try:
            cost_per_inference = float(cost_per_hour) / (float(max_invocations) * 60)
        except (TypeError, ValueError, ZeroDivisionError):  # pragma: no cover - defensive
            cost_per_inference = None
    metrics = {
        "CostPerHour": cost_per_hour, "CostPerInference": cost_per_inference, "MaxInvocations": max_invocations,
        "ModelLatency": model_latency_ms, "CpuUtilization": cpu_utilization, "MemoryUtilization": memory_utilization,
        "ModelSetupTime": model_setup_time,
    }
    endpoint: dict[str, Any] = {"EndpointName": test_endpoint, "VariantName": test_endpoint}
    if serverless_config is not None:
        endpoint["ServerlessConfig"] = dict(serverless_config)
    else:
        endpoint["InstanceType"] = instance_type
        endpoint["InitialInstanceCount"] = instance_count
    env = environment if environment is not None else {"OMP_NUM_THREADS": "2"}
    return {
        "RecommendationId": f"{job_name}/{uuid.uuid4().hex[:8]}",
        "Metrics": {k: v for k, v in metrics.items() if v is not None},
        "EndpointConfiguration": {k: v for k, v in endpoint.items() if v is not None},
        "ModelConfiguration": {"EnvironmentParameters": [
            {"Key": k, "ValueType": "string", "Value": v} for k, v in env.items()]} if env else {},
    }


def _generated(model: str, job: RecommendationJob) -> list[dict[str, Any]]:
    """Plausible results for ``model``: deterministic per model, cheaper instances slower."""
    digest = hashlib.sha256(model.encode()).digest()
    per_vcpu = 250 + digest[0] * 3  # invocations per minute per vCPU at the latency below
    latency = 8 + digest[1] % 40  # ms on a 2-vCPU instance
    model_gib = 0.5 + (digest[2] % 12) / 4
    wanted: list[dict[str, Any]] = []
    if job.job_type == "Advanced":
        wanted = list(job.input_config.get("EndpointConfigurations") or [])
    if not wanted:
        supported = (job.input_config.get("ContainerConfig") or {}).get("SupportedInstanceTypes") or []
        wanted = [{"InstanceType": t} for t in (supported or DEFAULT_JOB_INSTANCES)]
    result = []
    for entry in wanted:
        if entry.get("ServerlessConfig"):
            config = entry["ServerlessConfig"]
            memory_gib = config["MemorySizeInMB"] / 1024
            per_hour = round(0.0000200 * config["MemorySizeInMB"] / 1024 * 3600, 4)
            result.append(recommendation(
                None, serverless_config=config, cost_per_hour=per_hour,
                max_invocations=int(per_vcpu * 2 * min(config["MaxConcurrency"], 20) / 10),
                model_latency_ms=int(latency * 1.3), cpu_utilization=float("nan"),
                memory_utilization=round(min(100.0, 100 * model_gib / memory_gib), 1),
                model_setup_time=int(8 + model_gib * 4), job_name=job.name))
            continue
        instance_type = entry.get("InstanceType", "ml.c5.large")
        vcpus, memory, _price = INSTANCES.get(instance_type, (2, 8, 0.2))
        compute = 1.15 if ".c" in instance_type else 1.0
        result.append(recommendation(
            instance_type, max_invocations=int(per_vcpu * vcpus * compute),
            model_latency_ms=max(1, int(latency * (2 / vcpus) ** 0.3 / compute)),
            cpu_utilization=round(55 + digest[3] % 30, 1), memory_utilization=round(min(100.0, 100 * model_gib / memory), 1),
            job_name=job.name))
    return result


def _create_job(backend: Any, params: dict[str, Any]) -> RecommendationJob:
    from moto.sagemaker.exceptions import ResourceInUseException

    name = params["JobName"]
    jobs = _jobs(backend)
    if name in jobs:
        raise ResourceInUseException(f"Inference Recommender job with name {name} already exists.")
    job_type = params.get("JobType")
    if job_type not in ("Default", "Advanced"):
        raise _validation(f"Value '{job_type}' at 'jobType' failed to satisfy constraint: "
                          "Member must satisfy enum value set: [Default, Advanced]")
    input_config = dict(params.get("InputConfig") or {})
    model = input_config.get("ModelName") or input_config.get("ModelPackageVersionArn")
    if not model:
        raise _validation("Either ModelName or ModelPackageVersionArn must be provided in InputConfig.")
    if input_config.get("ModelName") and input_config["ModelName"] not in backend._models:
        raise _validation(f"Could not find model \"{_arn(backend, 'model', input_config['ModelName'])}\".")
    stamp = now()
    job = RecommendationJob(
        name=name, arn=_arn(backend, "inference-recommendations-job", name), job_type=job_type,
        role_arn=params.get("RoleArn") or DEFAULT_ROLE, input_config=input_config, status="IN_PROGRESS",
        creation_time=stamp, last_modified_time=stamp, description=params.get("JobDescription") or "",
        stopping_conditions=params.get("StoppingConditions"), output_config=params.get("OutputConfig"),
        tags=list(params.get("Tags") or []), watch=_Stopwatch(),
    )
    job.duration = DEFAULT_JOB_SECONDS if job_type == "Default" else float(
        input_config.get("JobDurationInSeconds") or ADVANCED_JOB_SECONDS)
    entry: _CatalogueEntry | None = backend.__dict__.get(_CATALOGUE, {}).get(model)
    if entry is not None:
        job.fail_with = entry.failure_reason
        if entry.duration_seconds is not None:
            job.duration = entry.duration_seconds
    if entry is not None and entry.recommendations is not None:
        job.recommendations = [dict(copy.deepcopy(r), RecommendationId=f"{name}/{uuid.uuid4().hex[:8]}")
                               for r in entry.recommendations]
    else:
        job.recommendations = _generated(model, job)
    jobs[name] = job
    _track(backend)
    return job


def _job(backend: Any, name: str) -> RecommendationJob:
    from moto.sagemaker.exceptions import ResourceNotFound

    job = _jobs(backend).get(name)
    if job is None:
        raise ResourceNotFound(f"Inference Recommender job {name} not found.")
    return job


def _stop_job(backend: Any, name: str) -> None:
    job = _job(backend, name)
    job.advance()
    if job.status not in ("PENDING", "IN_PROGRESS"):
        raise _validation(f"Inference Recommender job {name} is in status {job.status} and cannot be stopped.")
    job.status = "STOPPING"
    job.last_modified_time = now()
    job.watch = _Stopwatch()
    _track(backend)


def list_jobs(backend: Any, **params: Any) -> dict[str, Any]:
    """``ListInferenceRecommendationsJobs`` (API parameter names)."""
    progress()
    sort_by = params.get("SortBy") or "CreationTime"
    if sort_by not in ("Name", "CreationTime", "Status"):
        raise _validation(f"Value '{sort_by}' at 'sortBy' failed to satisfy constraint: "
                          "Member must satisfy enum value set: [Name, CreationTime, Status]")
    order = params.get("SortOrder") or "Descending"
    if order not in ("Ascending", "Descending"):
        raise _validation(f"Value '{order}' at 'sortOrder' failed to satisfy constraint: "
                          "Member must satisfy enum value set: [Ascending, Descending]")
    status = params.get("StatusEquals")
    if status and status not in JOB_STATUSES:
        raise _validation(f"Value '{status}' at 'statusEquals' failed to satisfy constraint: "
                          f"Member must satisfy enum value set: [{', '.join(JOB_STATUSES)}]")
    bounds = {k: naive_utc(params.get(k)) for k in ("CreationTimeAfter", "CreationTimeBefore",
                                                    "LastModifiedTimeAfter", "LastModifiedTimeBefore")}

    def keep(job: RecommendationJob) -> bool:
        checks = (
            not status or job.status == status,
            not params.get("NameContains") or params["NameContains"].lower() in job.name.lower(),
            not params.get("ModelNameEquals") or job.model_name == params["ModelNameEquals"],
            not params.get("ModelPackageVersionArnEquals")
            or job.model_package_version_arn == params["ModelPackageVersionArnEquals"],
            bounds["CreationTimeAfter"] is None or job.creation_time > bounds["CreationTimeAfter"],
            bounds["CreationTimeBefore"] is None or job.creation_time < bounds["CreationTimeBefore"],
            bounds["LastModifiedTimeAfter"] is None or job.last_modified_time > bounds["LastModifiedTimeAfter"],
            bounds["LastModifiedTimeBefore"] is None or job.last_modified_time < bounds["LastModifiedTimeBefore"],
        )
        return all(checks)

    key = {"Name": lambda j: (j.name,), "Status": lambda j: (j.status, j.creation_time, j.name),
           "CreationTime": lambda j: (j.creation_time, j.name)}[sort_by]
    jobs = sorted((j for j in _jobs(backend).values() if keep(j)), key=key, reverse=order == "Descending")
    page, token = _page(jobs, params.get("MaxResults"), params.get("NextToken"), default=100)
    result: dict[str, Any] = {"InferenceRecommendationsJobs": [j.summary() for j in page]}
    if token:
        result["NextToken"] = token
    return result


def seed_recommendation_catalogue(
    model: str,
    recommendations: list[dict[str, Any]] | None = None,
    *,
    failure_reason: str | None = None,
    duration_seconds: float | None = None,
    account_id: str | None = None,
    region: str = "us-east-1",
) -> None:
    """What a job created later for ``model`` (a model name or a model package version ARN)
    finds: these ``recommendations`` (see :func:`recommendation`; ``None``: generated), or, with
    ``failure_reason``, a ``FAILED`` end; ``duration_seconds`` overrides how long it runs (a very
    large value: a job that never finishes)."""
    backend = _backend(account_id, region)
    backend.__dict__.setdefault(_CATALOGUE, {})[model] = _CatalogueEntry(
        copy.deepcopy(recommendations) if recommendations is not None else None, failure_reason, duration_seconds)


def seed_recommendations_job(
    job_name: str,
    *,
    model_name: str | None = None,
    model_package_version_arn: str | None = None,
    status: str = "COMPLETED",
    recommendations: list[dict[str, Any]] | None = None,
    job_type: str = "Default",
    creation_time: datetime | None = None,
    completion_time: datetime | None = None,
    failure_reason: str | None = None,
    role_arn: str = DEFAULT_ROLE,
    input_config: dict[str, Any] | None = None,
    account_id: str | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """Store an Inference Recommender job in any ``status`` with ``recommendations`` taken as
    given (malformed ones included: missing metrics, NaN); ``None`` generates plausible ones.
    ``creation_time`` defaults to an hour ago; a finished job's ``completion_time`` to 45 minutes
    after it. A ``PENDING``/``IN_PROGRESS`` job runs on from ``creation_time`` and completes 45
    emulated minutes after it (``STOPPING``: stopped a minute after seeding); a ``FAILED`` one
    without ``failure_reason`` gets a generic one. Returns what DescribeInferenceRecommendationsJob
    answers."""
    if status not in JOB_STATUSES:
        raise ValueError(f"status must be one of {JOB_STATUSES}")
    if not (model_name or model_package_version_arn):
        raise ValueError("model_name or model_package_version_arn is required")
    backend = _backend(account_id, region)
    created = naive_utc(creation_time) or now() - timedelta(hours=1)
    config = dict(input_config or {})
    if model_name:
        config.setdefault("ModelName", model_name)
    if model_package_version_arn:
        config.setdefault("ModelPackageVersionArn", model_package_version_arn)
    job = RecommendationJob(
        name=job_name, arn=_arn(backend, "inference-recommendations-job", job_name), job_type=job_type,
        role_arn=role_arn, input_config=config, status=status, creation_time=created, last_modified_time=created,
    )
    if status in FINISHED_JOB_STATUSES:
        job.completion_time = job.last_modified_time = naive_utc(completion_time) or created + timedelta(minutes=45)
    if status == "FAILED":
        job.failure_reason = failure_reason or "Inference Recommender job failed: the benchmark endpoint did not start."
    elif failure_reason:
        job.failure_reason = failure_reason
    if status in ("PENDING", "IN_PROGRESS"):
        job.watch = _Stopwatch(already=(now() - created).total_seconds())
    elif status == "STOPPING":
        job.watch = _Stopwatch()
    job.recommendations = (copy.deepcopy(recommendations) if recommendations is not None
                           else _generated(model_name or model_package_version_arn or job_name, job))
    _jobs(backend)[job_name] = job
    _track(backend)
    return job.describe()


# ---------------------------------------------------------------- endpoint deployments
@dataclass
class _Phase:
    status: str  # VariantStatus: Creating, ActivatingTraffic, Baking
    message: str
    seconds: float
    capacity: int  # instances with traffic (CurrentInstanceCount of the pending variants)


@dataclass
class _Deployment:
    endpoint_name: str
    old_config: str
    new_config: str
    new_variants: list[dict[str, Any]]  # the new config's ProductionVariants (request shape)
    alarms: list[str]
    timeout: float | None
    phases: list[_Phase]
    watch: _Stopwatch
    started: datetime
    index: int = 0  # current phase
    phase_started: datetime | None = None
    rollback: _Stopwatch | None = None
    rollback_started: datetime | None = None
    failure_reason: str | None = None

    def boundary(self, index: int) -> float:
        return sum(p.seconds for p in self.phases[: index + 1])


def _capacity(size: dict[str, Any] | None, total: int) -> int:
    if not size:
        return total
    if size.get("Type") == "CAPACITY_PERCENT":
        return max(1, math.ceil(total * float(size["Value"]) / 100))
    return max(1, min(total, int(size["Value"])))


def _phases(policy: dict[str, Any] | None, total: int) -> list[_Phase]:
    """The deployment's steps after provisioning (total: the new fleet's instance count)."""
    phases = [_Phase("Creating", f"Launching {total} instance(s).", PROVISION_SECONDS, 0)]
    routing = (policy or {}).get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    wait = float(routing.get("WaitIntervalInSeconds") or 0)
    steps: list[int] = []
    if routing.get("Type") == "CANARY":
        steps = [_capacity(routing.get("CanarySize"), total)]
    elif routing.get("Type") == "LINEAR":
        step = _capacity(routing.get("LinearStepSize"), total)
        steps = list(range(step, total, step))
    for capacity in steps:
        kind = "canary" if routing.get("Type") == "CANARY" else "partial"
        phases.append(_Phase("ActivatingTraffic", f"Activating traffic on {kind} capacity of {capacity} instance(s).",
                             ACTIVATE_SECONDS, capacity))
        if wait:
            phases.append(_Phase("Baking", f"Baking for {int(wait)} seconds (WaitIntervalInSeconds) with traffic "
                                 f"enabled on {kind} capacity of {capacity} instance(s).", wait, capacity))
    phases.append(_Phase("ActivatingTraffic", f"Activating traffic on full capacity of {total} instance(s).",
                         ACTIVATE_SECONDS, total))
    termination = float((policy or {}).get("TerminationWaitInSeconds") or 0)
    if termination:
        phases.append(_Phase("Baking", f"Baking for {int(termination)} seconds (TerminationWaitInSeconds) with "
                             f"traffic enabled on full capacity of {total} instance(s).", termination, total))
    return phases


def _weight(variant: dict[str, Any]) -> float:
    value = variant.get("InitialVariantWeight")
    return 1.0 if value is None else float(value)


def _variant_summaries(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants for a config's variants, in service."""
    result = []
    for variant in variants:
        summary: dict[str, Any] = {"VariantName": variant["VariantName"]}
        if variant.get("ServerlessConfig"):
            summary["CurrentServerlessConfig"] = dict(variant["ServerlessConfig"])
            summary["DesiredServerlessConfig"] = dict(variant["ServerlessConfig"])
        else:
            weight = _weight(variant)
            summary.update(CurrentWeight=weight, DesiredWeight=weight,
                           CurrentInstanceCount=variant.get("InitialInstanceCount", 1),
                           DesiredInstanceCount=variant.get("InitialInstanceCount", 1))
        result.append(summary)
    return result


def _config_variants(backend: Any, config_name: str) -> list[dict[str, Any]]:
    config = backend.endpoint_configs.get(config_name)
    return copy.deepcopy(config.production_variants) if config is not None else []


def _pending(deployment: _Deployment, as_event: bool = False) -> dict[str, Any]:
    status: dict[str, Any]
    if deployment.rollback is not None:
        status = {"Status": "Deleting", "StatusMessage": "Terminating instance(s) of the new fleet: rolling back.",
                  "StartTime": deployment.rollback_started}
        capacity = 0
    else:
        phase = deployment.phases[deployment.index]
        status = {"Status": phase.status, "StatusMessage": phase.message, "StartTime": deployment.phase_started}
        capacity = phase.capacity
    if as_event:
        status["StartTime"] = _ms(status["StartTime"])
    variants = []
    for variant in deployment.new_variants:
        desired = variant.get("InitialInstanceCount", 1)
        weight = _weight(variant)
        entry = {"VariantName": variant["VariantName"], "CurrentWeight": weight, "DesiredWeight": weight,
                 "CurrentInstanceCount": min(capacity, desired), "DesiredInstanceCount": desired,
                 "InstanceType": variant.get("InstanceType"), "VariantStatus": [dict(status)]}
        variants.append({k: v for k, v in entry.items() if v is not None})
    return {"EndpointConfigName": deployment.new_config,
            "StartTime": _ms(deployment.started) if as_event else deployment.started,
            "ProductionVariants": variants}


def _alarms_in_alarm(account: str, region: str, names: list[str]) -> list[str]:
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[account][region].alarms
    return [n for n in names if n in alarms and alarms[n].state_value == "ALARM"]


def _account_region(endpoint: Any) -> tuple[str, str]:
    _, _, _, region, account, _ = endpoint.arn.split(":", 5)
    return account, region


def _emit(endpoint: Any, detail_type: str, deployment: _Deployment | None) -> None:
    account, region = _account_region(endpoint)
    detail = _event_detail(endpoint, deployment)
    default_bus.deliver(default_bus.service_event("aws.sagemaker", detail_type, account, region,
                                                  [endpoint.arn], detail))


def _event_detail(endpoint: Any, deployment: _Deployment | None) -> dict[str, Any]:
    variants = []
    for variant in endpoint.production_variants:
        entry = {k: variant.get(k) for k in ("VariantName", "CurrentWeight", "DesiredWeight", "CurrentInstanceCount",
                                             "DesiredInstanceCount", "CurrentServerlessConfig")}
        variants.append({k: v for k, v in entry.items() if v is not None})
    detail: dict[str, Any] = {
        "EndpointName": endpoint.endpoint_name, "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.endpoint_config_name, "ProductionVariants": variants,
        "EndpointStatus": _UPPER.get(endpoint.endpoint_status, endpoint.endpoint_status.upper()),
        "CreationTime": _ms(endpoint.creation_time), "LastModifiedTime": _ms(endpoint.last_modified_time),
        "Tags": {t["Key"]: t["Value"] for t in endpoint.tags or []},
    }
    if deployment is not None:
        detail["PendingDeploymentSummary"] = _pending(deployment, as_event=True)
    if endpoint.failure_reason:
        detail["FailureReason"] = endpoint.failure_reason
    return detail


def _set_status(endpoint: Any, status: str, deployment: _Deployment | None) -> None:
    endpoint.endpoint_status = status
    endpoint.last_modified_time = now()
    _emit(endpoint, "SageMaker Endpoint State Change", deployment)
    _emit(endpoint, "SageMaker Endpoint Deployment State Change", deployment)


def _advance_deployment(backend: Any, endpoint: Any, deployment: _Deployment) -> None:
    account, region = _account_region(endpoint)
    while True:
        if deployment.rollback is not None:
            if deployment.rollback.elapsed() < ROLLBACK_SECONDS:
                return
            _deployments.pop(endpoint, None)
            endpoint.failure_reason = deployment.failure_reason
            _set_status(endpoint, "InService", None)
            return
        elapsed = deployment.watch.elapsed()
        tripped = _alarms_in_alarm(account, region, deployment.alarms)
        total = deployment.boundary(len(deployment.phases) - 1)
        # the deployment outlives its timeout (one that fits the whole deployment never fires)
        timed_out = deployment.timeout is not None and deployment.timeout < total and elapsed >= deployment.timeout
        if tripped or timed_out:
            deployment.failure_reason = (
                f"Endpoint update rolled back: CloudWatch alarm(s) {', '.join(tripped)} in ALARM state during the "
                "deployment (AutoRollbackConfiguration)." if tripped else
                "Endpoint update rolled back: the deployment did not complete within "
                f"MaximumExecutionTimeoutInSeconds ({int(deployment.timeout or 0)} seconds).")
            deployment.rollback = _Stopwatch()
            deployment.rollback_started = now()
            _set_status(endpoint, "RollingBack", deployment)
            continue
        if elapsed < deployment.boundary(deployment.index):
            return
        if deployment.index + 1 < len(deployment.phases):
            deployment.index += 1
            deployment.phase_started = now()
            endpoint.last_modified_time = now()
            _emit(endpoint, "SageMaker Endpoint Deployment State Change", deployment)
            continue
        _deployments.pop(endpoint, None)
        endpoint.endpoint_config_name = deployment.new_config
        endpoint.production_variants = _variant_summaries(deployment.new_variants)
        endpoint.failure_reason = None
        _set_status(endpoint, "InService", None)
        return


def _update_endpoint(backend: Any, params: dict[str, Any]) -> str:
    name = params["EndpointName"]
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise _validation(f"Could not find endpoint \"{_arn(backend, 'endpoint', name)}\".")
    faults = backend.__dict__.get(_FAULTS, {}).get(name)
    if faults:
        code, message = faults.pop(0)
        raise _error(code, message)
    _advance_one(backend, endpoint)
    if endpoint.endpoint_status in IN_PROGRESS_ENDPOINT_STATUSES:
        raise _validation(f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
    config_name = params["EndpointConfigName"]
    if config_name not in backend.endpoint_configs:
        raise _validation(f"Could not find endpoint configuration \"{_arn(backend, 'endpoint-config', config_name)}\".")
    deployment_config = params.get("DeploymentConfig")
    if deployment_config is None and params.get("RetainDeploymentConfig"):
        deployment_config = getattr(endpoint, "last_deployment_config", None)
    new_variants = _config_variants(backend, config_name)
    if params.get("RetainAllVariantProperties"):
        excluded = {p.get("VariantPropertyType") for p in params.get("ExcludeRetainedVariantProperties") or []}
        current = {v["VariantName"]: v for v in endpoint.production_variants}
        for variant in new_variants:
            old = current.get(variant["VariantName"])
            if old and "DesiredInstanceCount" not in excluded and old.get("DesiredInstanceCount"):
                variant["InitialInstanceCount"] = old["DesiredInstanceCount"]
            if old and "DesiredWeight" not in excluded and old.get("DesiredWeight") is not None:
                variant["InitialVariantWeight"] = old["DesiredWeight"]
    total = sum(v.get("InitialInstanceCount", 1) for v in new_variants if not v.get("ServerlessConfig")) or 1
    policy = (deployment_config or {}).get("BlueGreenUpdatePolicy")
    _validate_policy(policy, total)
    alarms = [a["AlarmName"] for a in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get(
        "Alarms", [])]
    account, region = _account_region(endpoint)
    from moto.cloudwatch.models import cloudwatch_backends

    missing = [a for a in alarms if a not in cloudwatch_backends[account][region].alarms]
    if missing:
        raise _validation(f"The alarm(s) {', '.join(missing)} in AutoRollbackConfiguration do not exist.")
    if deployment_config is not None:
        endpoint.last_deployment_config = copy.deepcopy(deployment_config)
    timeout = (policy or {}).get("MaximumExecutionTimeoutInSeconds")
    started = now()
    deployment = _Deployment(
        endpoint_name=name, old_config=endpoint.endpoint_config_name, new_config=config_name,
        new_variants=new_variants, alarms=alarms, timeout=float(timeout) if timeout else None,
        phases=_phases(policy, total), watch=_Stopwatch(), started=started, phase_started=started,
    )
    _deployments[endpoint] = deployment
    endpoint.failure_reason = None
    _track(backend)
    _set_status(endpoint, "Updating", deployment)
    _advance_one(backend, endpoint)  # an alarm already in ALARM rolls back at once
    return str(endpoint.arn)


def _validate_policy(policy: dict[str, Any] | None, total: int) -> None:
    if not policy:
        return
    routing = policy.get("TrafficRoutingConfiguration") or {}
    kind = routing.get("Type")
    if kind == "CANARY":
        size = routing.get("CanarySize")
        if not size:
            raise _validation("CanarySize must be specified when TrafficRoutingConfiguration Type is CANARY.")
        if _capacity(size, total) > total / 2:
            raise _validation("CanarySize must be less than or equal to 50% of the variant's total instance count.")
    elif kind == "LINEAR":
        size = routing.get("LinearStepSize")
        if not size:
            raise _validation("LinearStepSize must be specified when TrafficRoutingConfiguration Type is LINEAR.")
        if not total * 0.1 <= _capacity(size, total) <= total / 2:
            raise _validation("LinearStepSize must be 10-50% of the variant's total instance count.")


def _advance_one(backend: Any, endpoint: Any) -> None:
    with _lock:
        deployment = _deployments.get(endpoint)
        if deployment is not None and backend.endpoints.get(endpoint.endpoint_name) is endpoint:
            _advance_deployment(backend, endpoint, deployment)


def _describe_endpoint(backend: Any, response: dict[str, Any], name: str) -> dict[str, Any]:
    endpoint = backend.endpoints[name]
    deployment = _deployments.get(endpoint)
    variants = []
    for variant in endpoint.production_variants:
        entry = dict(variant)
        if "CurrentServerlessConfig" not in entry:
            entry.setdefault("CurrentWeight", 1.0)
            entry.setdefault("DesiredWeight", 1.0)
        entry.setdefault("VariantStatus", [])
        variants.append(entry)
    response["ProductionVariants"] = variants
    response["EndpointStatus"] = endpoint.endpoint_status
    response["EndpointConfigName"] = endpoint.endpoint_config_name
    response["LastModifiedTime"] = endpoint.last_modified_time
    for key, value in (("PendingDeploymentSummary", _pending(deployment) if deployment else None),
                       ("LastDeploymentConfig", copy.deepcopy(getattr(endpoint, "last_deployment_config", None))),
                       ("FailureReason", endpoint.failure_reason)):
        if value is None:
            response.pop(key, None)
        else:
            response[key] = value
    return response


def fail_next_updates(endpoint_name: str, code: str = "ResourceLimitExceeded", message: str | None = None,
                      times: int = 1, account_id: str | None = None, region: str = "us-east-1") -> None:
    """The endpoint's next ``times`` UpdateEndpoint calls fail with ``code`` (``ResourceLimitExceeded``
    by default, with SageMaker's quota message)."""
    text = message or ("The account-level service limit 'ml.m5.xlarge for endpoint usage' is 2 Instances, with "
                       "current utilization of 2 Instances and a request delta of 1 Instances. Please use AWS Service "
                       "Quotas to request an increase for this quota.")
    backend = _backend(account_id, region)
    backend.__dict__.setdefault(_FAULTS, {}).setdefault(endpoint_name, []).extend([(code, text)] * times)


def endpoint_state_change_event(name: str, account_id: str | None = None, region: str = "us-east-1") -> dict[str, Any]:
    """The ``SageMaker Endpoint State Change`` event SageMaker would send for the endpoint now."""
    backend = _backend(account_id, region)
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise KeyError(name)
    account, region = _account_region(endpoint)
    return default_bus.service_event("aws.sagemaker", "SageMaker Endpoint State Change", account, region,
                                     [endpoint.arn], _event_detail(endpoint, _deployments.get(endpoint)))


# ---------------------------------------------------------------- progress
def _track(backend: Any) -> None:
    _backends.add(backend)
    _listen()


def progress() -> None:
    """Bring every job and deployment in flight up to now (emulated time); what the clock
    listener, describes, lists and alarm state changes call."""
    with _lock:
        for backend in list(_backends):
            for job in list(_jobs(backend).values()):
                job.advance()
            for endpoint in list(backend.endpoints.values()):
                deployment = _deployments.get(endpoint)
                if deployment is not None:
                    _advance_deployment(backend, endpoint, deployment)


# ---------------------------------------------------------------- patches
_UPDATE_PARAMS = ("EndpointName", "EndpointConfigName", "RetainAllVariantProperties",
                  "ExcludeRetainedVariantProperties", "DeploymentConfig", "RetainDeploymentConfig")
_CREATE_PARAMS = ("JobName", "JobType", "RoleArn", "InputConfig", "JobDescription", "StoppingConditions",
                  "OutputConfig", "Tags")
_LIST_PARAMS = ("CreationTimeAfter", "CreationTimeBefore", "LastModifiedTimeAfter", "LastModifiedTimeBefore",
                "NameContains", "StatusEquals", "SortBy", "SortOrder", "NextToken", "MaxResults",
                "ModelNameEquals", "ModelPackageVersionArnEquals")
_originals: dict[str, Any] = {}


def _backend_describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is not None:
        _advance_one(self, endpoint)
    response = dict(_originals["describe_endpoint"](self, endpoint_name))
    return _describe_endpoint(self, response, endpoint_name)


def _alarm_update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
    progress()  # what was due before the change happens without it
    _originals["update_state"](self, reason, reason_data, state_value)
    progress()


def _backend_update_endpoint(self: Any, **params: Any) -> str:
    with _lock:
        return _update_endpoint(self, params)


def _backend_create_job(self: Any, **params: Any) -> str:
    with _lock:
        return _create_job(self, params).arn


def _backend_describe_job(self: Any, job_name: str) -> dict[str, Any]:
    with _lock:
        job = _job(self, job_name)
        job.advance()
        return job.describe()


def _backend_stop_job(self: Any, job_name: str) -> None:
    with _lock:
        _stop_job(self, job_name)


def _backend_list_jobs(self: Any, **params: Any) -> dict[str, Any]:
    with _lock:
        return list_jobs(self, **params)


def _params(response: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: response._get_param(n) for n in names if response._get_param(n) is not None}


def _response_update_endpoint(self: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult({"EndpointArn": self.sagemaker_backend.update_endpoint(**_params(self, _UPDATE_PARAMS))})


def _response_create_job(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = self.sagemaker_backend.create_inference_recommendations_job(**_params(self, _CREATE_PARAMS))
    return ActionResult({"JobArn": arn})


def _response_describe_job(self: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult(self.sagemaker_backend.describe_inference_recommendations_job(self._get_param("JobName")))


def _response_stop_job(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.sagemaker_backend.stop_inference_recommendations_job(self._get_param("JobName"))
    return EmptyResult()


def _response_list_jobs(self: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult(self.sagemaker_backend.list_inference_recommendations_jobs(**_params(self, _LIST_PARAMS)))


def apply() -> None:
    """Patch moto's SageMaker and CloudWatch alarm classes (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.cloudwatch import models as cloudwatch_models
    from moto.sagemaker import models, responses

    backend_cls: Any = models.SageMakerModelBackend
    response_cls: Any = responses.SageMakerResponse
    _originals["describe_endpoint"] = backend_cls.describe_endpoint
    _originals["update_state"] = cloudwatch_models.Alarm.update_state
    backend_cls.describe_endpoint = _backend_describe_endpoint
    backend_cls.update_endpoint = _backend_update_endpoint
    backend_cls.create_inference_recommendations_job = _backend_create_job
    backend_cls.describe_inference_recommendations_job = _backend_describe_job
    backend_cls.stop_inference_recommendations_job = _backend_stop_job
    backend_cls.list_inference_recommendations_jobs = _backend_list_jobs
    response_cls.update_endpoint = _response_update_endpoint
    response_cls.create_inference_recommendations_job = _response_create_job
    response_cls.describe_inference_recommendations_job = _response_describe_job
    response_cls.stop_inference_recommendations_job = _response_stop_job
    response_cls.list_inference_recommendations_jobs = _response_list_jobs
    cloudwatch_models.Alarm.update_state = _alarm_update_state  # type: ignore[method-assign]
    _applied = True


# ---------------------------------------------------------------- CloudWatch traffic
def seed_variant_traffic(
    endpoint_name: str,
    variant_name: str = "AllTraffic",
    *,
    per_minute_invocations: float | list[float] = 100.0,
    latency_us: float = 20_000.0,
    p99_latency_us: float | None = None,
    days: float = 14.0,
    step_minutes: int = 60,
    errors_5xx_per_minute: float | None = None,
    now_time: datetime | None = None,
    account_id: str | None = None,
    region: str = "us-east-1",
) -> int:
    """Write a variant's ``AWS/SageMaker`` metrics cheaply: one datapoint per metric every
    ``step_minutes`` over the last ``days`` (ending at ``now_time``, default the wall clock, which
    the functions and moto's GetMetricData compare with), each standing for the minute it falls in.

    * ``Invocations`` (``StatisticValues``, each request counting 1): the minute's count, from
      ``per_minute_invocations`` (a number, or a list cycled over the datapoints, oldest first,
      e.g. 24 hourly values for a daily shape; 0 writes a 0 datapoint);
    * ``ModelLatency`` in microseconds (``Values``/``Counts``): the minute's requests at
      ``latency_us`` with just over 1% at ``p99_latency_us`` (default 3x), so the p99 of any
      period is ``p99_latency_us``; none for a minute without requests;
    * ``Invocation5XXErrors`` when ``errors_5xx_per_minute`` is given.

    Per-minute statistics (the peak or median of ``Sum`` at ``Period=60``, percentiles) are exact;
    a ``Sum`` over a longer period counts only the sampled minutes. Returns the datapoints written.
    Needs :mod:`cloudwatch_metrics` applied (percentiles, cheap distributions)."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id or _default_account()][region]
    end = naive_utc(now_time) or now()  # moto keeps metric timestamps as naive UTC
    dimensions = [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": variant_name}]
    rates = per_minute_invocations if isinstance(per_minute_invocations, list) else [per_minute_invocations]
    high = p99_latency_us if p99_latency_us is not None else latency_us * 3
    points = int(days * 24 * 60 // step_minutes)
    data: list[dict[str, Any]] = []
    for index in range(points):
        stamp = (end - timedelta(minutes=step_minutes * (points - index))).replace(second=0, microsecond=0)
        count = float(rates[index % len(rates)])
        data.append({"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": stamp, "Unit": "None",
                     "StatisticValues": {"SampleCount": max(count, 1.0) if count else 1.0, "Sum": count,
                                         "Minimum": 1.0 if count else 0.0, "Maximum": 1.0 if count else 0.0}})
        if count > 0:
            slow = math.floor(count * 0.01) + 1
            values, counts = ([latency_us, high], [count - slow, slow]) if count > slow else ([high], [count])
            data.append({"MetricName": "ModelLatency", "Dimensions": dimensions, "Timestamp": stamp,
                         "Unit": "Microseconds", "Values": values, "Counts": counts})
        if errors_5xx_per_minute is not None:
            data.append({"MetricName": "Invocation5XXErrors", "Dimensions": dimensions, "Timestamp": stamp,
                         "Unit": "None", "Value": float(errors_5xx_per_minute)})
    backend.put_metric_data("AWS/SageMaker", data)
    return len(data)
