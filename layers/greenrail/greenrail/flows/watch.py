"""The training watch: one workflow per running job, one turn every few minutes.

* **start** (``SageMaker Training Job State Change``, InProgress): one execution per job, named
  from the job (``training-<job>``; ``training-<account>-<job>`` for a member account's job, whose
  name may repeat one of ours), so a duplicate event cannot start a second watch;
* **turn** (the workflow's Task): describe the job afresh, measure, decide, stop it in enforce
  mode, and announce what changed. Every turn describes the job again, so a job already
  ``Stopping`` or ended gets ``action: none`` and is never stopped twice; an applied stop is
  remembered in the state table until it is announced (``greenrail.state.remember_stop``): if
  the publish after a successful StopTrainingJob fails, the next turn finds the job ``Stopping``
  with nothing published, recalls the stop and publishes it then.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from greenrail import bus, validation
from greenrail.adapters import stepfunctions
from greenrail.arn import account_of
from greenrail.aws import acting_in
from greenrail.decision import Decision, Mode
from greenrail.policies.training import UNREADABLE, TrainingPolicy, apply, evaluate_watched
from greenrail.sagemaker_facts import DEFAULT_MAX_RUNTIME_SECONDS, STOPPED_STATUSES, TERMINAL_STATUSES
from greenrail.state import BlastRadius, mark_announced, recall_stop, remember_stop

EXECUTION_NAME_MAX = 80  # StartExecution: name is 1-80 characters
# Step Functions execution names: no whitespace, brackets, wildcards, punctuation or control
# characters; ASCII letters, digits, '-' and '_' are always safe.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# A Standard execution's history holds at most 25,000 events; one watch turn writes about 11
# (Wait, Task, Choice, Pass entered/exited, Lambda scheduled/started/succeeded), so the loop
# stops well before that. Beyond it the job is left to `greenrail scan --policies training`.
MAX_ITERATIONS_CAP = 2_000


class TrainingJobDetail(BaseModel):
    """What the watch needs of a ``SageMaker Training Job State Change`` event's detail (a
    processing or tuning job's event is read into the same shape: :func:`parse_start`)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    TrainingJobName: validation.TrainingJobName
    # its account is the one acted in: twelve digits, a known region; a training, processing or tuning job
    TrainingJobArn: validation.SageMakerJobArn
    TrainingJobStatus: str = Field(pattern=r"^[A-Za-z]{1,32}$")
    StoppingCondition: dict[str, Any] = Field(default_factory=dict)
    ResourceConfig: dict[str, Any] = Field(default_factory=dict)  # KeepAlivePeriodInSeconds: the warm pool

    @property
    def kind(self) -> str:
        """``training``, ``processing`` or ``tuning``: the execution name's prefix."""
        resource = self.TrainingJobArn.split(":", 5)[-1].split("/", 1)[0]
        return {"processing-job": "processing", "hyper-parameter-tuning-job": "tuning"}.get(resource, "training")


class TrainingJobStateChange(BaseModel):
    """The whole ``SageMaker Training Job State Change`` event the watch starter takes."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Training Job State Change"] = Field(alias="detail-type")
    account: validation.AccountId | None = None
    region: validation.Region | None = None
    detail: TrainingJobDetail

    @field_validator("detail")
    @classmethod
    def _a_training_job(cls, detail: TrainingJobDetail) -> TrainingJobDetail:
        _of_kind(detail.TrainingJobArn, "training-job")
        return detail


def _of_kind(arn: str, resource: str) -> str:
    """The ARN, when it names a ``resource`` (a forged event may not name another kind of job)."""
    if arn.split(":", 5)[-1].split("/", 1)[0] != resource:
        raise ValueError(f"not a {resource} ARN")
    return arn


class ProcessingJobDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    ProcessingJobName: validation.TrainingJobName
    ProcessingJobArn: validation.SageMakerJobArn
    ProcessingJobStatus: str = Field(pattern=r"^[A-Za-z]{1,32}$")
    StoppingCondition: dict[str, Any] = Field(default_factory=dict)
    MonitoringScheduleArn: str | None = None

    @field_validator("ProcessingJobArn")
    @classmethod
    def _a_processing_job(cls, arn: str) -> str:
        return _of_kind(arn, "processing-job")


class TuningJobDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    HyperParameterTuningJobName: validation.TrainingJobName
    HyperParameterTuningJobArn: validation.SageMakerJobArn
    HyperParameterTuningJobStatus: str = Field(pattern=r"^[A-Za-z]{1,32}$")

    @field_validator("HyperParameterTuningJobArn")
    @classmethod
    def _a_tuning_job(cls, arn: str) -> str:
        return _of_kind(arn, "hyper-parameter-tuning-job")


class ProcessingJobStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Processing Job State Change"] = Field(alias="detail-type")
    detail: ProcessingJobDetail


class TuningJobStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker HyperParameter Tuning Job State Change"] = Field(alias="detail-type")
    detail: TuningJobDetail


def parse_start(event: Any) -> TrainingJobDetail:
    """A training, processing or tuning job's state change, as the watch's one detail shape
    (raises pydantic.ValidationError: the training event's errors when it is none of the three).
    A Model Monitor schedule's processing job is never watched: its status is read as ``Monitoring``."""
    detail_type = event.get("detail-type") if isinstance(event, dict) else None
    if detail_type == "SageMaker Processing Job State Change":
        processing = ProcessingJobStateChange.model_validate(event).detail
        return TrainingJobDetail(
            TrainingJobName=processing.ProcessingJobName, TrainingJobArn=processing.ProcessingJobArn,
            TrainingJobStatus="Monitoring" if processing.MonitoringScheduleArn else processing.ProcessingJobStatus,
            StoppingCondition=processing.StoppingCondition)
    if detail_type == "SageMaker HyperParameter Tuning Job State Change":
        tuning = TuningJobStateChange.model_validate(event).detail
        return TrainingJobDetail(
            TrainingJobName=tuning.HyperParameterTuningJobName, TrainingJobArn=tuning.HyperParameterTuningJobArn,
            TrainingJobStatus=tuning.HyperParameterTuningJobStatus,
            StoppingCondition={"MaxRuntimeInSeconds": MAX_ITERATIONS_CAP * 86_400})  # bounded by the cap
    return TrainingJobStateChange.model_validate(event).detail


def execution_name(job_name: str, account: str | None = None, kind: str = "training") -> str:
    """``training-<job>`` for a job in Greenrail's own account, ``training-<account>-<job>`` for
    one in another (member) account — job names are unique only per account and region — made
    safe; a hash keeps it unique if anything had to change."""
    raw = f"{account}-{job_name}" if account else job_name
    safe = _UNSAFE.sub("-", raw)
    name = f"{kind}-{safe}"
    if safe != raw or len(name) > EXECUTION_NAME_MAX:
        digest = hashlib.sha256(f"{account or ''}:{job_name}".encode()).hexdigest()[:10]
        name = f"{name[: EXECUTION_NAME_MAX - 11]}-{digest}"
    return name


def watch_input(detail: TrainingJobDetail, interval_minutes: int) -> dict[str, Any]:
    """The execution input: deterministic, so a duplicate start is recognised as one."""
    interval = interval_minutes * 60
    try:
        max_runtime = int(detail.StoppingCondition.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS))
    except (TypeError, ValueError):
        max_runtime = DEFAULT_MAX_RUNTIME_SECONDS
    try:  # a warm pool outlives the job by its keep-alive period
        max_runtime += int(detail.ResourceConfig.get("KeepAlivePeriodInSeconds") or 0)
    except (TypeError, ValueError):
        pass
    iterations = min(MAX_ITERATIONS_CAP, math.ceil(max_runtime / interval) + 4)
    return {
        "job_name": detail.TrainingJobName,
        "job_arn": detail.TrainingJobArn,
        "interval_seconds": interval,
        "max_iterations": iterations,
        "iteration": 0,
        "last": {"done": False, "status": "InProgress", "action": "none", "applied": False,
                 "published_action": "none"},
    }


def start(detail: TrainingJobDetail, policy: TrainingPolicy, state_machine_arn: str,
          own_account: str | None) -> dict[str, Any]:
    """Start the job's watch, once: a second start for the same job is a no-op."""
    if detail.TrainingJobStatus != "InProgress":
        return {"started": False, "reason": f"status {detail.TrainingJobStatus} is not watched"}
    if policy.mode is Mode.OFF:
        return {"started": False, "reason": "training policy is off"}
    job_account = account_of(detail.TrainingJobArn)
    foreign = job_account if own_account and job_account and job_account != own_account else None
    name = execution_name(detail.TrainingJobName, foreign, detail.kind)
    try:
        arn = stepfunctions.start_execution(state_machine_arn, name, watch_input(detail, policy.check_interval_minutes))
    except stepfunctions.AlreadyStarted:
        return {"started": False, "reason": "already watched", "execution_name": name}
    return {"started": True, "execution_name": name, "execution_arn": arn}


class WatchStep(BaseModel):
    """One turn of the watch workflow: the Task's output and the decision behind it."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    done: bool
    status: str
    action: str
    applied: bool
    publish: bool
    published_action: str
    decision: Decision
    recovered: bool = False  # a stop applied by an earlier attempt, announced only now

    def output(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "status": self.status,
            "action": self.action,
            "applied": self.applied,
            "published_action": self.published_action,
        }


def should_publish(decision: Decision, previous_action: str) -> bool:
    """Notifications stay meaningful: a finding when it appears (or when its stop is applied),
    and the compliant decision once the job is no longer in breach (ended, or recovered) —
    nothing while a stopped job is still ``Stopping``, nothing on an unchanged evaluation,
    nothing about a job that could not be read. (A stop whose announcement failed is published
    by ``watch_step`` from the state table.)
    """
    if decision.status == UNREADABLE:
        return False
    if decision.action != "none":  # a stop, a warm pool release or a recommendation
        return previous_action != decision.action or decision.applied
    return previous_action != "none" and decision.status != "Stopping"


def watch_step(
    job_name: str,
    policy: TrainingPolicy,
    previous_action: str = "none",
    now: datetime | None = None,
    blast_radius: BlastRadius | None = None,
    job_arn: str | None = None,
) -> WatchStep:
    with acting_in(account_of(job_arn)):  # a member account's job: read and stopped through its role
        evaluated, warm_pool = evaluate_watched(job_name, policy, now, job_arn=job_arn)
        decision = apply(evaluated, policy, blast_radius)
    status = decision.status or "Unknown"
    recovered = False
    if decision.applied:
        remember_stop(decision)
    elif decision.action == "none" and status in STOPPED_STATUSES:
        # Stopping or stopped: if we stopped it and never announced the stop, its publish failed
        # (whatever was announced before: a dry-run or held-back stop finding, say).
        pending = recall_stop(decision.resource)
        if pending is not None:
            recovered = True
            decision = pending.model_copy(update={
                "reason": f"{pending.reason}; announced late: publishing the stop failed the first time",
                "figures": {**pending.figures, "status": status, "announced_late": True},
                "status": status, "announced_late": True,
            })
    publish = recovered or should_publish(decision, previous_action)
    # A finished training job whose warm pool was Available is watched on: released (or not yet
    # due), the next turn finds it Terminated and announces it compliant.
    ended = (status in TERMINAL_STATUSES and not warm_pool) or status == "NotFound"
    return WatchStep(
        # A late stop announcement on a Stopped job: one more turn publishes the compliant decision.
        done=(ended and not recovered) or policy.mode is Mode.OFF,
        status=status,
        action=decision.action,
        applied=decision.applied,
        publish=publish,
        published_action=decision.action if publish else previous_action,
        decision=decision,
        recovered=recovered,
    )


def turn(job_name: str, policy: TrainingPolicy, previous_action: str = "none",
         job_arn: str | None = None) -> WatchStep:
    """One turn of the watch: the step, then its announcement when it means something."""
    step = watch_step(job_name, policy, previous_action, job_arn=job_arn)
    if step.publish:
        bus.publish([step.decision])
        mark_announced(step.decision)
    return step
