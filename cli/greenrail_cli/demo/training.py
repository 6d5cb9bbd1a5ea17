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



# ---------------------------------------------------------------- around the training jobs
# A Random-strategy tuning job, an idle processing job, a lingering warm pool, a cross-region input:
# each delivered through its own event and watched by the same workflow (``training_jobs_scenario``).
TUNING_JOB = "xgb-random-search"
PROCESSING_JOB = "feature-engineering-idle"
WARM_POOL_JOB = "churn-xgb-warm"
REMOTE_JOB = "forecast-train-remote"
REMOTE_BUCKET = "acme-ml-eu-data"  # in eu-west-1, read by a job in us-east-1
PROCESSING_NAMESPACE = "/aws/sagemaker/ProcessingJobs"


def _create_tuning_job() -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_tuning

    client("sagemaker").create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=TUNING_JOB,
        HyperParameterTuningJobConfig={
            "Strategy": "Random", "TrainingJobEarlyStoppingType": "Off",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 200, "MaxParallelTrainingJobs": 4},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "0.3"}]}},
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File"},
            "RoleArn": ROLE_ARN, "OutputDataConfig": {"S3OutputPath": f"s3://acme-ml-artifacts/{TUNING_JOB}/"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}},
        Tags=[{"Key": "team", "Value": "growth"}],
    )
    sagemaker_tuning.launch_children(TUNING_JOB, 40, running=4, hours_each=0.5)


def _create_processing_job(now: datetime) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_tuning

    client("sagemaker").create_processing_job(
        ProcessingJobName=PROCESSING_JOB, RoleArn=ROLE_ARN,
        AppSpecification={"ImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1"},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
        StoppingCondition={"MaxRuntimeInSeconds": 86_400}, Tags=[{"Key": "team", "Value": "data"}])
    sagemaker_tuning.set_processing_job(PROCESSING_JOB, start_time=now - timedelta(hours=3))
    data = [{"MetricName": "CPUUtilization", "Dimensions": [{"Name": "Host", "Value": host_dimension(PROCESSING_JOB, h)}],
             "Timestamp": now - timedelta(minutes=m), "Value": 4.0, "Unit": "Percent"}  # 1 % of each of 4 vCPUs
            for h in (1, 2) for m in range(0, METRIC_HISTORY_MINUTES + 1, METRIC_STEP_MINUTES)]
    for start in range(0, len(data), PUT_BATCH):
        client("cloudwatch").put_metric_data(Namespace=PROCESSING_NAMESPACE, MetricData=data[start:start + PUT_BATCH])


def _create_remote_input() -> None:
    s3 = client("s3", "eu-west-1")
    s3.create_bucket(Bucket=REMOTE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for n in range(4):
        s3.put_object(Bucket=REMOTE_BUCKET, Key=f"forecast/train/part-{n:04d}.parquet", Body=b"\0" * 256_000)


def _create_training(name: str, now: datetime, **extra: Any) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_training

    client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE_ARN, OutputDataConfig={"S3OutputPath": f"s3://acme-ml-artifacts/{name}/"},
        StoppingCondition={"MaxRuntimeInSeconds": 86_400}, **extra)
    sagemaker_training.set_training_job_status(name, "InProgress", start_time=now - timedelta(minutes=40))
    put_gpu_utilization(name, 82.0, 1, now)


def training_jobs_scenario(emulator: Any, log: list[str]) -> dict[str, Any]:
    """Seed the four, deliver their InProgress events, let their watches run, report the outcome."""
    from greenrail_cli.emulator import ACCOUNT, REGION
    from greenrail_cli.emulator.moto_ext import sagemaker_monitoring, sagemaker_training, sagemaker_tuning

    now = datetime.now(UTC)
    _create_tuning_job()
    _create_processing_job(now)
    _create_remote_input()
    _create_training(WARM_POOL_JOB, now, ResourceConfig={
        "InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30, "KeepAlivePeriodInSeconds": 3600})
    _create_training(REMOTE_JOB, now, ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 30},
                     InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                         "S3DataType": "S3Prefix", "S3Uri": f"s3://{REMOTE_BUCKET}/forecast/train/"}}}])
    lifetimes = JobLifetimes(emulator, ACCOUNT, REGION)
    tuning_deadline = emulator.clock.offset + timedelta(minutes=20)
    warm_deadline: list[timedelta] = []  # set when its InProgress event is delivered

    def age(seconds: int) -> None:
        sagemaker_training.age_in_progress_jobs(seconds, account_id=ACCOUNT, region=REGION)
        sagemaker_tuning.age(seconds, account_id=ACCOUNT, region=REGION)
        if emulator.clock.offset >= tuning_deadline:
            sagemaker_tuning.complete_tuning_job(TUNING_JOB, ACCOUNT, REGION)
        overshoot = emulator.clock.offset - warm_deadline[0] if warm_deadline else timedelta(-1)
        if overshoot >= timedelta(0) and not warm_done:  # it ended at its deadline, within the clock's step
            warm_done.append(WARM_POOL_JOB)
            sagemaker_training.set_training_job_status(
                WARM_POOL_JOB, "Completed", end_time=datetime.now(UTC) - overshoot, account_id=ACCOUNT, region=REGION)

    warm_done: list[str] = []

    listeners: list[Callable[[int], None]] = [age, lifetimes]
    emulator.clock.listeners.extend(listeners)
    try:
        log.append(f"sagemaker: tuning job {TUNING_JOB} InProgress (Random search, 200 training jobs, 40 launched, "
                   "no early stopping, no completion criteria; ends after 20 min) -> SageMaker HyperParameter Tuning Job State Change "
                   "-> TrainingWatchStartFunction -> TrainingWatchStateMachine")
        emulator.deliver(sagemaker_tuning.tuning_job_state_change_event(TUNING_JOB, ACCOUNT, REGION))
        log.append(f"sagemaker: processing job {PROCESSING_JOB} InProgress (ml.m5.xlarge x2, CPU 1% for 2h) "
                   "-> SageMaker Processing Job State Change -> TrainingWatchStartFunction")
        emulator.deliver(sagemaker_monitoring.processing_job_state_change_event(PROCESSING_JOB, ACCOUNT, REGION))
        log.append(f"sagemaker: training job {WARM_POOL_JOB} InProgress (warm pool kept 60 min), completes after "
                   "10 min -> its warm pool lingers unused")
        warm_deadline.append(emulator.clock.offset + timedelta(minutes=10))
        emulator.deliver(sagemaker_training.training_job_state_change_event(WARM_POOL_JOB, ACCOUNT, REGION))
        log.append(f"sagemaker: training job {REMOTE_JOB} InProgress in {REGION}, reading s3://{REMOTE_BUCKET}/ "
                   "(eu-west-1), completes after 20 min")
        lifetimes.finish_after(REMOTE_JOB, 20 * 60)
        emulator.deliver(sagemaker_training.training_job_state_change_event(REMOTE_JOB, ACCOUNT, REGION))
    finally:
        for listener in listeners:
            emulator.clock.listeners.remove(listener)

    sagemaker = client("sagemaker")
    state = {
        TUNING_JOB: sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=TUNING_JOB)["HyperParameterTuningJobStatus"],
        PROCESSING_JOB: sagemaker.describe_processing_job(ProcessingJobName=PROCESSING_JOB)["ProcessingJobStatus"],
        WARM_POOL_JOB: "warm pool " + str((sagemaker.describe_training_job(TrainingJobName=WARM_POOL_JOB)
                                           .get("WarmPoolStatus") or {}).get("Status", "none")),
        REMOTE_JOB: sagemaker.describe_training_job(TrainingJobName=REMOTE_JOB)["TrainingJobStatus"],
    }
    actions = {d.resource.rsplit("/", 1)[-1]: d.action for d in emulator.decisions
               if d.policy == "training" and d.action != "none"}
    lines = [f"{name}: {status} ({actions.get(name, 'no finding')})" for name, status in state.items()]
    log.extend(f"sagemaker: {line}" for line in lines)
    return {"lines": lines, "jobs": state, "actions": actions}


def scenario(emulator: Any, log: list[str]) -> dict[str, Any]:
    """The demo's training scenario: the four training jobs, then the jobs around them."""
    result = training_scenario(emulator, log)
    around = training_jobs_scenario(emulator, log)
    return {**result, "lines": result["lines"] + around["lines"], "around": around}
