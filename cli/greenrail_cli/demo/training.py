"""The training policy's demo scenario: four SageMaker training jobs, watched through the template.

Seeds four InProgress jobs in the emulator (Greenrail's moto extension makes created jobs run),
puts their utilization in CloudWatch the way SageMaker does (``/aws/sagemaker/TrainingJobs``,
dimension ``Host=<job>/algo-<n>``), and delivers each job's ``SageMaker Training Job State
Change`` (InProgress) event through the template's rules: the starter Lambda opens one watch
execution per job, whose turns (Wait, then the evaluate Lambda) run on the emulator's clock.

* an idle GPU job (GPU ~1 % for two hours): stopped, ``IdleTrainingJob``;
* a runaway job, busy but over its ``greenrail:budget-usd`` tag: stopped, ``RunawayTrainingJob``;
* a healthy busy job under budget: left running; it completes 20 emulated minutes later;
* an idle job tagged ``greenrail:exempt=true``: left running; it completes 40 emulated minutes later.

Emulated time: a clock listener ages every InProgress job with the clock, and ends the two jobs
that finish on their own once they have run their remaining time after their InProgress event,
so every watch ends (the stopped ones end when their job reaches ``Stopped``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from greenrail.aws import client
from greenrail.sagemaker_facts import TRAINING_NAMESPACE, host_dimension

NAMESPACE = TRAINING_NAMESPACE
METRIC_STEP_MINUTES = 5
METRIC_HISTORY_MINUTES = 125  # a little over two hours of datapoints, up to now
PUT_BATCH = 20  # datapoints per PutMetricData call, kept small
TRAINING_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-gpu-py311"
ROLE_ARN = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"


@dataclass(frozen=True)
class DemoJob:
    """One seeded training job: what it runs on, how busy it is, how long it still runs."""

    name: str
    role: str  # idle, runaway, healthy, exempt: what the demo expects of it
    instance_type: str
    gpus: int  # GPUUtilization is reported as a sum over GPUs (up to 100 x GPUs)
    gpu_percent: float  # per GPU
    started_hours_ago: float
    tags: dict[str, str] = field(default_factory=dict)
    finishes_after_minutes: int | None = None  # emulated minutes after its InProgress event
    max_runtime_seconds: int = 86_400

    @property
    def expected_stopped(self) -> bool:
        return self.role in ("idle", "runaway")


JOBS: tuple[DemoJob, ...] = (
    DemoJob("llm-finetune-idle", "idle", "ml.g5.xlarge", 1, 1.0, 3.0, {"team": "nlp"}),
    DemoJob(
        "vision-pretrain-runaway",
        "runaway",
        "ml.p4d.24xlarge",
        8,
        88.0,
        10.0,
        {"team": "vision", "greenrail:budget-usd": "200"},
        max_runtime_seconds=172_800,
    ),
    DemoJob(
        "churn-xgb-healthy",
        "healthy",
        "ml.g5.2xlarge",
        1,
        82.0,
        2.0,
        {"team": "growth"},
        finishes_after_minutes=20,
    ),
    DemoJob(
        "notebook-debug-exempt",
        "exempt",
        "ml.g4dn.xlarge",
        1,
        0.5,
        3.0,
        {"team": "research", "greenrail:exempt": "true"},
        finishes_after_minutes=40,
    ),
)


def create_job(job: DemoJob, now: datetime | None = None) -> None:
    """CreateTrainingJob, then backdate its start (the moto extension keeps it InProgress)."""
    from greenrail_cli.emulator.moto_ext import sagemaker_training

    now = now or datetime.now(UTC)
    client("sagemaker").create_training_job(
        TrainingJobName=job.name,
        AlgorithmSpecification={"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE_ARN,
        OutputDataConfig={"S3OutputPath": f"s3://acme-ml-artifacts/{job.name}/"},
        ResourceConfig={"InstanceType": job.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 100},
        StoppingCondition={"MaxRuntimeInSeconds": job.max_runtime_seconds},
        Tags=[{"Key": key, "Value": value} for key, value in job.tags.items()],
    )
    sagemaker_training.set_training_job_status(
        job.name, "InProgress", start_time=now - timedelta(hours=job.started_hours_ago)
    )


def put_gpu_utilization(
    job_name: str,
    gpu_percent: float,
    gpus: int = 1,
    now: datetime | None = None,
    minutes: int = METRIC_HISTORY_MINUTES,
    host: int = 1,
) -> None:
    """``GPUUtilization`` of ``<job>/algo-<host>`` every five minutes over the last ``minutes``.

    CloudWatch's GetMetricData in moto compares timestamps with the real clock, so the points are
    relative to the real now (the policy reads the real now too).
    """
    now = now or datetime.now(UTC)
    data = [
        {
            "MetricName": "GPUUtilization",
            "Dimensions": [{"Name": "Host", "Value": host_dimension(job_name, host)}],
            "Timestamp": now - timedelta(minutes=minute),
            "Value": gpu_percent * gpus,
            "Unit": "Percent",
        }
        for minute in range(0, minutes + 1, METRIC_STEP_MINUTES)
    ]
    cloudwatch = client("cloudwatch")
    for start in range(0, len(data), PUT_BATCH):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + PUT_BATCH])


class JobLifetimes:
    """A clock listener: a job completes once it has run ``seconds`` of emulated time after
    :meth:`finish_after` was called (typically when its InProgress event is delivered)."""

    def __init__(self, emulator: Any, account_id: str | None = None, region: str = "us-east-1"):
        self.emulator = emulator
        self.account_id = account_id
        self.region = region
        self.deadlines: dict[str, timedelta] = {}
        self.completed: list[str] = []

    def finish_after(self, job_name: str, seconds: int) -> None:
        self.deadlines[job_name] = self.emulator.clock.offset + timedelta(seconds=seconds)

    def __call__(self, seconds: int) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sagemaker.models import sagemaker_backends

        from greenrail_cli.emulator.moto_ext import sagemaker_training

        offset = self.emulator.clock.offset
        backend = sagemaker_backends[self.account_id or DEFAULT_ACCOUNT_ID][self.region]
        for name, deadline in list(self.deadlines.items()):
            if offset < deadline:
                continue
            del self.deadlines[name]
            # Read the job as stored: a DescribeTrainingJob here would move a Stopping job on.
            job = backend.training_jobs.get(name)
            if job is not None and job.training_job_status == "InProgress":
                sagemaker_training.set_training_job_status(
                    name, "Completed", account_id=self.account_id, region=self.region
                )
                self.completed.append(name)


def watch_executions(emulator: Any) -> dict[str, list[dict[str, Any]]]:
    """The training watch executions per job: name, status and number of turns (evaluations)."""
    import json

    sfn = client("stepfunctions")
    result: dict[str, list[dict[str, Any]]] = {}
    arn = emulator.physical("TrainingWatchStateMachine")
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)
            turns = sum(
                1
                for e in history["events"]
                if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "EvaluateJob"
            )
            job_name = json.loads(described["input"])["job_name"]
            result.setdefault(job_name, []).append(
                {
                    "name": execution["name"],
                    "status": execution["status"],
                    "turns": turns,
                    "error": described.get("error"),
                }
            )
    return result


def _describe_line(job: DemoJob) -> str:
    busy = f"GPU {job.gpu_percent:g}%" if job.gpus == 1 else f"{job.gpus} GPUs at {job.gpu_percent:g}%"
    tags = ", ".join(f"{k}={v}" for k, v in job.tags.items() if k.startswith("greenrail:"))
    return (
        f"sagemaker: training job {job.name} InProgress ({job.instance_type} x1, {busy} for 2h, "
        f"started {job.started_hours_ago:g}h ago{', ' + tags if tags else ''})"
        " -> SageMaker Training Job State Change -> TrainingWatchStartFunction -> TrainingWatchStateMachine"
    )


def training_scenario(emulator: Any, log: list[str], jobs: tuple[DemoJob, ...] = JOBS) -> dict[str, Any]:
    """Seed the jobs, deliver their InProgress events through the template, report the outcome."""
    from greenrail_cli.emulator import ACCOUNT, REGION
    from greenrail_cli.emulator.moto_ext import sagemaker_training

    now = datetime.now(UTC)
    for job in jobs:
        create_job(job, now)
        put_gpu_utilization(job.name, job.gpu_percent, job.gpus, now)
    lifetimes = JobLifetimes(emulator, ACCOUNT, REGION)

    def age(seconds: int) -> None:
        sagemaker_training.age_in_progress_jobs(seconds, account_id=ACCOUNT, region=REGION)

    listeners: list[Callable[[int], None]] = [age, lifetimes]
    emulator.clock.listeners.extend(listeners)
    try:
        for job in jobs:
            log.append(_describe_line(job))
            if job.finishes_after_minutes is not None:
                lifetimes.finish_after(job.name, job.finishes_after_minutes * 60)
            emulator.deliver(sagemaker_training.training_job_state_change_event(job.name, ACCOUNT, REGION))
    finally:
        for listener in listeners:
            emulator.clock.listeners.remove(listener)

    sagemaker = client("sagemaker")
    executions = watch_executions(emulator)
    statuses: dict[str, str] = {}
    lines = []
    for job in jobs:
        status = sagemaker.describe_training_job(TrainingJobName=job.name)["TrainingJobStatus"]
        statuses[job.name] = status
        watches = executions.get(job.name, [])
        watch = (
            ", ".join(
                f"watch {w['name']} {w['status']} after {w['turns']} turn{'s' if w['turns'] != 1 else ''}"
                + (f" ({w['error']})" if w.get("error") else "")
                for w in watches
            )
            or "no watch"
        )
        stopped_calls = sagemaker_training.stop_calls(job.name, ACCOUNT, REGION)
        lines.append(f"{job.name}: {status}")
        log.append(
            f"sagemaker: {job.name} ({job.role}) ended {status}; {watch}; "
            f"StopTrainingJob called {stopped_calls}x"
        )
    return {
        "lines": lines,
        "jobs": statuses,
        "expected_stopped": sorted(job.name for job in jobs if job.expected_stopped),
        "executions": executions,
    }


scenario = training_scenario
