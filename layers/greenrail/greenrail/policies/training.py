"""The training policy: stop idle and runaway SageMaker training jobs.

The whole rule is here, on typed inputs; AWS calls live in ``greenrail.adapters`` and the
orchestration (describe, fetch metrics, stop, blast radius) in ``greenrail.training_watch``.

* **IdleTrainingJob** — after ``idle.warmup_minutes`` from the training start, every host
  (``<job>/algo-<n>``, one per instance) stays strictly under the threshold for the whole
  ``idle.window_minutes``. GPU instance types are judged on ``GPUUtilization`` divided by the
  GPU count, CPU types on ``CPUUtilization`` divided by the vCPU count (CloudWatch reports both
  as a sum over devices, up to 100 x devices: FACTS.md, "Metrics"). Each period's *Maximum* is
  compared, so a short burst of work counts as work. A host with datapoints in fewer than
  :data:`MIN_COVERAGE` of the window's periods is *insufficient data*, never idleness.
* **RunawayTrainingJob** — elapsed time over ``runaway.max_runtime_hours``; or the cost (cost
  so far, or the cost at the current rate by the next check) over the job's budget: the
  ``greenrail:budget-usd`` tag, else ``runaway.default_budget_usd``, else no budget check.
  Cost = instance count x hourly price x billed hours; billed hours are ``BillableTimeInSeconds``
  for managed spot jobs (where the spot discount shows) and the elapsed time otherwise.

A stop avoids the job's remaining projected runtime: until its own ``MaxRuntimeInSeconds``
(SageMaker stops it there at the latest). That one-off cost and its kgCO2e are reported as the
month's savings (``figures.savings_basis`` says so).

Around the training job, the same policy (and the same watch) also judges, in modules of their own:
processing jobs (``greenrail.training_processing``: these rules, StopProcessingJob), tuning jobs
(``greenrail.training_tuning``: runaway stop, recommend-bayesian / early stopping / completion
criteria) and, on a decision with nothing to stop, warm pools, managed spot and data locality
(``greenrail.training_advice``: release-warm-pool, recommend-spot, recommend-colocate). Enforce
mode applies only ``stop`` and ``release-warm-pool``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from greenrail import training_advice, training_processing, training_tuning
from greenrail.adapters import cloudwatch, sagemaker
from greenrail.aws import ACCESS_DENIED_CODES, error_code
from greenrail.config import OWNER_TAG_KEY, BlastRadiusCap, Exemptions, Strict
from greenrail.decision import Decision, Mode, Savings
from greenrail.pricing import InstancePrice, UnknownInstanceType, training_price
from greenrail.protocol import PolicyDefinition, Rule, Trigger
from greenrail.sagemaker_facts import (
    DEFAULT_MAX_RUNTIME_SECONDS,
    PROCESSING_NAMESPACE,
    TRAINING_NAMESPACE,
    host_dimension,
)
from greenrail.state import BlastRadius

POLICY: Final = "training"
NAMESPACE = TRAINING_NAMESPACE
NAMESPACES: Final = {"training": TRAINING_NAMESPACE, "processing": PROCESSING_NAMESPACE}  # per-host metrics
logger = logging.getLogger(__name__)
UNREADABLE = "Unreadable"  # status of a job Greenrail may not describe (AccessDenied)
MIN_COVERAGE = 0.8  # share of the window's periods a host must report to be judged
IDLE_FINDING = "IdleTrainingJob"
RUNAWAY_FINDING = "RunawayTrainingJob"
# Accelerators that publish no GPUUtilization (Neuron devices): judged on CPU.
_NO_GPU_METRIC = re.compile(r"^ml\.(trn|inf)\d")

UtilizationMetric = Literal["GPUUtilization", "CPUUtilization"]


# ---------------------------------------------------------------- configuration (policy document `training:`)
class IdleRule(Strict):
    gpu_threshold_percent: float = Field(default=5.0, ge=0, le=100)
    cpu_threshold_percent: float = Field(default=5.0, ge=0, le=100)
    window_minutes: int = Field(default=60, ge=5)
    warmup_minutes: int = Field(default=30, ge=0)


class RunawayRule(Strict):
    max_runtime_hours: float = Field(default=72.0, gt=0)
    default_budget_usd: float | None = Field(default=None, gt=0)
    budget_tag_key: str = "greenrail:budget-usd"


class TuningRule(Strict):
    """Hyperparameter tuning jobs (``greenrail.training_tuning``)."""

    max_random_jobs: int = Field(default=50, ge=1, description="Random/Grid over this many jobs: recommend-bayesian")
    bayesian_savings_ratio: float = Field(default=0.5, gt=0, le=1,
                                          description="share of the remaining jobs Bayesian search is assumed to save")
    default_budget_usd: float | None = Field(default=None, gt=0,
                                             description="budget of a tuning job without the budget tag; none: no check")


class ProcessingRule(Strict):
    """Processing jobs: the training rules, with their own thresholds (``greenrail.training_processing``)."""

    idle: IdleRule = Field(default_factory=IdleRule)
    runaway: RunawayRule = Field(default_factory=RunawayRule)


class SpotRule(Strict):
    min_runtime_minutes: int = Field(default=60, ge=0, description="running longer than this: recommend-spot")
    expected_discount: float = Field(default=0.6, gt=0, lt=1, description="assumed managed-spot discount (estimated)")


class DataLocalityRule(Strict):
    enabled: bool = True
    max_listed_objects: int = Field(default=10_000, ge=1, le=100_000,
                                    description="ListObjectsV2 bound when sizing a cross-region input prefix")


class TrainingPolicy(Strict):
    mode: Mode = Mode.DRY_RUN
    check_interval_minutes: int = Field(default=15, ge=1, le=1440)
    idle: IdleRule = Field(default_factory=IdleRule)
    runaway: RunawayRule = Field(default_factory=RunawayRule)
    tuning: TuningRule = Field(default_factory=TuningRule)
    processing: ProcessingRule = Field(default_factory=ProcessingRule)
    max_warm_pool_minutes: int = Field(default=30, ge=0, description="warm pool Available longer: release-warm-pool")
    spot: SpotRule = Field(default_factory=SpotRule)
    data_locality: DataLocalityRule = Field(default_factory=DataLocalityRule)
    price_overrides_usd_per_hour: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="USD per instance-hour, by instance type; each > 0"
    )
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadiusCap = Field(default_factory=lambda: BlastRadiusCap(max_actions_per_hour=10))


class TrainingJobSnapshot(BaseModel):
    """What the rule needs to know about one training job, at one instant."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str
    arn: str
    status: str
    instance_type: str
    instance_count: int = Field(default=1, ge=1)
    spot: bool = False
    start_time: datetime | None = None
    elapsed_seconds: float = Field(default=0.0, ge=0)
    billable_seconds: float | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS
    account: str = ""
    region: str = ""
    kind: Literal["training", "processing"] = "training"  # a processing job is judged by the same rules
    checkpointing: bool = False  # CheckpointConfig.S3Uri set (what managed spot needs to resume)
    end_time: datetime | None = None
    warm_pool_status: str | None = None  # WarmPoolStatus.Status: Available, InUse, Reused, Terminated
    keep_alive_seconds: int = 0  # ResourceConfig.KeepAlivePeriodInSeconds
    input_uris: list[str] = Field(default_factory=list)  # the S3 input channels' S3Uri

    @classmethod
    def from_api(
        cls,
        job: dict[str, Any],
        now: datetime,
        account: str,
        region: str,
        tags: dict[str, str] | None = None,
    ) -> TrainingJobSnapshot:
        """From a DescribeTrainingJob response or a Search ``TrainingJob`` record (same fields)."""
        resources = job.get("ResourceConfig") or {}
        start = job.get("TrainingStartTime") or job.get("CreationTime")
        end = job.get("TrainingEndTime")
        elapsed = ((end or now) - start).total_seconds() if isinstance(start, datetime) else 0.0
        if tags is None:
            tags = {tag["Key"]: tag["Value"] for tag in job.get("Tags") or []}
        stopping = job.get("StoppingCondition") or {}
        return cls(
            name=job["TrainingJobName"],
            arn=job["TrainingJobArn"],
            status=job["TrainingJobStatus"],
            instance_type=resources.get("InstanceType", "unknown"),
            instance_count=max(1, int(resources.get("InstanceCount", 1))),
            spot=bool(job.get("EnableManagedSpotTraining", False)),
            start_time=start if isinstance(start, datetime) else None,
            elapsed_seconds=max(0.0, elapsed),
            billable_seconds=job.get("BillableTimeInSeconds"),
            tags=tags,
            max_runtime_seconds=int(stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)),
            account=account,
            region=region,
            checkpointing=bool((job.get("CheckpointConfig") or {}).get("S3Uri")),
            end_time=end if isinstance(end, datetime) else None,
            warm_pool_status=(job.get("WarmPoolStatus") or {}).get("Status"),
            keep_alive_seconds=int(resources.get("KeepAlivePeriodInSeconds") or 0),
            input_uris=[  # S3Prefix channels (a manifest's objects are elsewhere: not sized, not judged)
                source["S3Uri"]
                for channel in job.get("InputDataConfig") or []
                if (source := (channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
                and source.get("S3DataType", "S3Prefix") == "S3Prefix"
            ],
        )

    @property
    def hosts(self) -> list[str]:
        return [host_dimension(self.name, n) for n in range(1, self.instance_count + 1)]

    @property
    def label(self) -> str:
        """``Training`` or ``Processing``: the finding names say which kind of job."""
        return self.kind.capitalize()


class HostUtilization(BaseModel):
    """One host's utilization datapoints as CloudWatch reports them (sum over devices)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    host: str
    metric: UtilizationMetric
    timestamps: list[datetime] = Field(default_factory=list)
    values: list[float] = Field(default_factory=list)


class UtilizationBasis(BaseModel):
    """Which metric judges idleness for an instance type, and what 100 % means."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    metric: UtilizationMetric
    devices: int  # GPUs or vCPUs: the raw metric goes up to 100 x devices


def utilization_basis(instance_type: str, price: InstancePrice | None = None) -> UtilizationBasis | None:
    """GPU types by GPU count, CPU types by vCPU count; None when the type is unknown.

    The instance catalogue is ``greenrail.carbon.instance_spec`` (data/instances.json); the
    price table's vcpus/gpus columns are the fallback.
    """
    vcpus, gpus = _spec(instance_type)
    if vcpus is None and price is not None:
        vcpus, gpus = price.vcpus, price.gpus
    if _NO_GPU_METRIC.match(instance_type):
        gpus = 0
    if gpus:
        return UtilizationBasis(metric="GPUUtilization", devices=gpus)
    if vcpus:
        return UtilizationBasis(metric="CPUUtilization", devices=vcpus)
    return None


def _spec(instance_type: str) -> tuple[int | None, int | None]:
    try:
        from greenrail.carbon import instance_spec  # type: ignore[attr-defined,unused-ignore]

        spec = instance_spec(instance_type)
    except (ImportError, KeyError, ValueError, LookupError):
        return None, None
    if spec is None:
        return None, None
    vcpus = getattr(spec, "vcpus", None)
    gpus = getattr(spec, "gpu_count", None)
    return (int(vcpus) if vcpus else None), int(gpus or 0)


def metric_period(rule: IdleRule) -> int:
    """GetMetricData period: one-minute points for short windows, five-minute ones otherwise."""
    return 60 if rule.window_minutes < 30 else 300


class IdleAssessment(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    state: Literal["idle", "busy", "warming-up", "insufficient-data", "unknown-instance-type"]
    metric: str | None = None
    devices: int | None = None
    threshold_percent: float
    window_minutes: int
    period_seconds: int
    hosts: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @property
    def mean_percent(self) -> float | None:
        means = [h["mean_percent"] for h in self.hosts.values() if h.get("mean_percent") is not None]
        return sum(means) / len(means) if means else None


def _host_figures(
    series: HostUtilization | None,
    start: datetime,
    end: datetime,
    devices: int,
    threshold: float,
    required: int,
) -> dict[str, Any]:
    points = (
        [
            value / devices
            for ts, value in zip(series.timestamps, series.values, strict=False)
            if start <= _utc(ts) <= end
        ]
        if series
        else []
    )
    figures: dict[str, Any] = {"datapoints": len(points), "required_datapoints": required}
    if points:
        figures["max_percent"] = round(max(points), 2)
        figures["mean_percent"] = round(sum(points) / len(points), 2)
    if points and max(points) >= threshold:
        figures["state"] = "busy"
    elif len(points) < required:
        figures["state"] = "insufficient-data"
    else:
        figures["state"] = "idle"
    return figures


def assess_idle(
    job: TrainingJobSnapshot,
    hosts: list[HostUtilization],
    rule: IdleRule,
    now: datetime,
    basis: UtilizationBasis | None,
) -> IdleAssessment:
    period = metric_period(rule)
    threshold = rule.gpu_threshold_percent
    if basis is not None and basis.metric == "CPUUtilization":
        threshold = rule.cpu_threshold_percent
    assessment = IdleAssessment(
        state="insufficient-data",
        metric=basis.metric if basis else None,
        devices=basis.devices if basis else None,
        threshold_percent=threshold,
        window_minutes=rule.window_minutes,
        period_seconds=period,
    )
    if basis is None:
        assessment.state = "unknown-instance-type"
        return assessment
    window = rule.window_minutes * 60
    if job.start_time is None or job.elapsed_seconds < (rule.warmup_minutes * 60 + window):
        assessment.state = "warming-up"
        return assessment
    start = _utc(now).timestamp() - window
    window_start = datetime.fromtimestamp(start, UTC)
    required = max(1, math.ceil(MIN_COVERAGE * window / period))
    by_host = {h.host: h for h in hosts if h.metric == basis.metric}
    assessment.hosts = {
        host: _host_figures(by_host.get(host), window_start, _utc(now), basis.devices, threshold, required)
        for host in job.hosts
    }
    states = {figures["state"] for figures in assessment.hosts.values()}
    if "busy" in states:
        assessment.state = "busy"
    elif "insufficient-data" in states:
        assessment.state = "insufficient-data"
    else:
        assessment.state = "idle"
    return assessment


class CostAssessment(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    price_usd_per_hour: float | None = None
    price_source: str | None = None
    elapsed_hours: float
    billed_hours: float
    rate_usd_per_hour: float | None = None
    cost_so_far_usd: float | None = None
    cost_at_next_check_usd: float | None = None
    projected_total_usd: float | None = None
    remaining_hours: float
    budget_usd: float | None = None
    budget_source: str | None = None


def job_budget(job: TrainingJobSnapshot, policy: TrainingPolicy) -> tuple[float | None, str | None]:
    """The tag's budget when it is a positive number, else the policy default, else none."""
    tagged = training_tuning.tag_budget(job.tags, policy.runaway.budget_tag_key)
    if tagged is not None:
        return tagged, f"tag {policy.runaway.budget_tag_key}"
    if policy.runaway.default_budget_usd is not None:
        return policy.runaway.default_budget_usd, "policy runaway.default_budget_usd"
    return None, None


def assess_cost(
    job: TrainingJobSnapshot, policy: TrainingPolicy, price: InstancePrice | None
) -> CostAssessment:
    elapsed_hours = job.elapsed_seconds / 3600
    billed_hours = elapsed_hours
    if job.spot and job.billable_seconds is not None:
        billed_hours = min(elapsed_hours, job.billable_seconds / 3600) if elapsed_hours else 0.0
    remaining_hours = max(0.0, job.max_runtime_seconds - job.elapsed_seconds) / 3600
    budget, budget_source = job_budget(job, policy)
    cost = CostAssessment(
        elapsed_hours=round(elapsed_hours, 4),
        billed_hours=round(billed_hours, 4),
        remaining_hours=round(remaining_hours, 4),
        budget_usd=budget,
        budget_source=budget_source,
    )
    if price is None:
        return cost
    billed_share = billed_hours / elapsed_hours if elapsed_hours else 1.0
    rate = job.instance_count * price.usd_per_hour * billed_share
    so_far = job.instance_count * price.usd_per_hour * billed_hours
    cost.price_usd_per_hour = price.usd_per_hour
    cost.price_source = price.source
    cost.rate_usd_per_hour = round(rate, 4)
    cost.cost_so_far_usd = round(so_far, 4)
    cost.cost_at_next_check_usd = round(so_far + rate * policy.check_interval_minutes / 60, 4)
    cost.projected_total_usd = round(so_far + rate * remaining_hours, 4)
    return cost


def _runaway_reasons(job: TrainingJobSnapshot, policy: TrainingPolicy, cost: CostAssessment) -> list[str]:
    finding = f"Runaway{job.label}Job"  # RunawayTrainingJob or RunawayProcessingJob
    reasons = []
    if cost.elapsed_hours > policy.runaway.max_runtime_hours:
        reasons.append(
            f"{finding}: running {cost.elapsed_hours:.2f} h, over the "
            f"{policy.runaway.max_runtime_hours:g} h maximum runtime"
        )
    if cost.budget_usd is not None and cost.cost_so_far_usd is not None:
        if cost.cost_so_far_usd > cost.budget_usd:
            reasons.append(
                f"{finding}: cost so far ${cost.cost_so_far_usd:.2f} is over the "
                f"${cost.budget_usd:.2f} budget ({cost.budget_source})"
            )
        elif cost.cost_at_next_check_usd is not None and cost.cost_at_next_check_usd > cost.budget_usd:
            reasons.append(
                f"{finding}: at ${cost.rate_usd_per_hour:.2f}/h the cost reaches "
                f"${cost.cost_at_next_check_usd:.2f} by the next check, over the ${cost.budget_usd:.2f} "
                f"budget ({cost.budget_source})"
            )
    return reasons


def _idle_reason(idle: IdleAssessment, job: TrainingJobSnapshot) -> str:
    finding = f"Idle{job.label}Job"  # IdleTrainingJob or IdleProcessingJob
    worst = max((h.get("max_percent", 0.0) for h in idle.hosts.values()), default=0.0)
    return (
        f"{finding}: every host's {idle.metric} stayed under {idle.threshold_percent:g} % "
        f"(highest {worst:.2f} % per {'GPU' if idle.metric == 'GPUUtilization' else 'vCPU'}) "
        f"for {idle.window_minutes} min"
    )


def _carbon_kg(
    job: TrainingJobSnapshot, hours: float, idle: IdleAssessment
) -> tuple[float | None, str | None]:
    if hours <= 0:
        return 0.0, None
    util = idle.mean_percent / 100 if idle.mean_percent is not None else None
    kwargs: dict[str, Any] = {}
    if idle.metric == "GPUUtilization":
        kwargs["gpu_util"] = util
    elif idle.metric == "CPUUtilization":
        kwargs["cpu_util"] = util
    try:
        from greenrail.carbon import estimate  # type: ignore[attr-defined,unused-ignore]

        result = estimate(job.instance_type, hours, job.region, count=job.instance_count, **kwargs)
    except ImportError:
        return None, "carbon model (greenrail.carbon) not available"
    except (KeyError, ValueError, LookupError) as exc:
        return None, f"carbon model has no estimate: {exc}"
    return float(result.kgco2e), None


def _base_figures(job: TrainingJobSnapshot, policy: TrainingPolicy) -> dict[str, Any]:
    return {
        "job_name": job.name,
        "status": job.status,
        "instance_type": job.instance_type,
        "instance_count": job.instance_count,
        "spot": job.spot,
        "max_runtime_hours": policy.runaway.max_runtime_hours,
        "job_max_runtime_hours": round(job.max_runtime_seconds / 3600, 4),
    }


def _decision(job: TrainingJobSnapshot, mode: Mode, **fields: Any) -> Decision:
    action = fields.pop("action", "none")
    return Decision(
        policy=POLICY,
        resource=job.arn,
        account=job.account,
        region=job.region,
        action=action,
        target={},
        mode=mode,
        compliant=action == "none",
        status=job.status,
        owner=job.tags.get(OWNER_TAG_KEY),
        **fields,
    )


def decide(
    job: TrainingJobSnapshot,
    hosts: list[HostUtilization],
    policy: TrainingPolicy,
    now: datetime,
    price: InstancePrice | None,
    mode: Mode | None = None,
    event_id: str | None = None,
) -> Decision:
    """The training policy's decision about one job (nothing is done here)."""
    mode = mode or policy.mode
    figures = _base_figures(job, policy)
    if mode is Mode.OFF:
        return _decision(job, mode, reason="training policy is off", figures=figures, event_id=event_id)
    if job.status != "InProgress":
        return _decision(
            job, mode, reason=f"job is {job.status}: nothing to stop", figures=figures, event_id=event_id
        )
    if policy.exemptions.exempts(job.name, job.tags):
        figures["exempt"] = True
        return _decision(
            job,
            mode,
            reason="exempt (tag or name pattern): not evaluated",
            figures=figures,
            event_id=event_id,
        )

    basis = utilization_basis(job.instance_type, price)
    idle = assess_idle(job, hosts, policy.idle, now, basis)
    cost = assess_cost(job, policy, price)
    figures.update(cost.model_dump())
    figures["idle"] = idle.model_dump()
    if price is None:
        figures["price_error"] = f"no price for {job.instance_type}: budget not checked"

    findings = _runaway_reasons(job, policy, cost)
    if idle.state == "idle":
        findings.insert(0, _idle_reason(idle, job))
    if not findings:
        return _decision(job, mode, reason=_compliant_reason(idle), figures=figures, event_id=event_id)

    figures["findings"] = [finding.split(":", 1)[0] for finding in findings]
    usd = (cost.rate_usd_per_hour or 0.0) * cost.remaining_hours
    kg, carbon_note = _carbon_kg(job, cost.remaining_hours, idle)
    figures["avoided_usd"] = round(usd, 4) if price is not None else None  # unknown, not zero
    figures["avoided_kgco2e"] = None if kg is None else round(kg, 4)
    if carbon_note:
        figures["carbon_note"] = carbon_note
    figures["savings_basis"] = (
        f"one-off: the remaining projected runtime ({cost.remaining_hours:.2f} h, until the job's "
        "MaxRuntimeInSeconds) avoided by stopping now, counted in this month's savings"
    )
    return _decision(
        job,
        mode,
        action="stop",
        reason="; ".join(findings),
        figures=figures,
        savings=Savings(usd_per_month=round(usd, 2), kgco2e_per_month=round(kg or 0.0, 4)),
        severity="HIGH" if any(f.startswith("Runaway") for f in findings) else "MEDIUM",
        event_id=event_id,
    )


def _compliant_reason(idle: IdleAssessment) -> str:
    return {
        "busy": "busy: at least one host at or over the utilization threshold in the window",
        "warming-up": "within the warm-up period and first idle window: idleness not judged yet",
        "insufficient-data": "insufficient data: utilization metrics missing for the window (never read as idle)",
        "unknown-instance-type": "unknown instance type: idleness not judged",
    }.get(idle.state, idle.state)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------- loading and applying (through the adapters)
job_location = training_tuning.job_location  # (account, region) of a job: its ARN's, else where Greenrail runs


def _price(instance_type: str, policy: TrainingPolicy) -> InstancePrice | None:
    try:
        return training_price(instance_type, policy.price_overrides_usd_per_hour)
    except UnknownInstanceType:
        return None


def fetch_utilization(
    jobs: Iterable[TrainingJobSnapshot], policy: TrainingPolicy, now: datetime
) -> dict[str, list[HostUtilization]]:
    """Each job's per-host utilization over the idle window, in as few GetMetricData calls as can be.

    Exempt jobs and jobs still inside warm-up + window are skipped: the rule would not look at
    their metrics.
    """
    rule = policy.idle
    period = metric_period(rule)
    window = rule.window_minutes * 60
    queries: list[cloudwatch.MetricQuery] = []
    owners: dict[str, tuple[str, str, str]] = {}  # query id -> (job arn, host, metric)
    for job in jobs:
        if job.status != "InProgress" or job.elapsed_seconds < rule.warmup_minutes * 60 + window:
            continue
        if policy.exemptions.exempts(job.name, job.tags):
            continue
        basis = utilization_basis(job.instance_type, _price(job.instance_type, policy))
        if basis is None:
            continue
        for host in job.hosts:
            query_id = f"q{len(queries)}"
            queries.append(
                cloudwatch.MetricQuery(
                    id=query_id, namespace=NAMESPACES[job.kind], metric=basis.metric, dimensions={"Host": host}
                )
            )
            owners[query_id] = (job.arn, host, basis.metric)
    if not queries:
        return {}
    # One extra period before the window, so the first bucket of the window is complete.
    start = datetime.fromtimestamp(now.timestamp() - window - period, UTC)
    series = cloudwatch.get_metric_series(queries, start, now, period)
    result: dict[str, list[HostUtilization]] = {}
    for query_id, (arn, host, metric) in owners.items():
        found = series[query_id]
        result.setdefault(arn, []).append(
            HostUtilization(host=host, metric=metric, timestamps=found.timestamps, values=found.values)  # type: ignore[arg-type]
        )
    return result


def _gone_decision(
    job_name: str,
    mode: Mode,
    reason: str,
    arn: str | None = None,
    status: str = "NotFound",
    error: str | None = None,
) -> Decision:
    account, job_region = job_location(arn)
    figures: dict[str, Any] = {"job_name": job_name, "status": status}
    if error:
        figures["error"] = error
    return Decision(
        policy=POLICY,
        resource=arn or f"arn:aws:sagemaker:{job_region}:{account}:training-job/{job_name}",
        account=account,
        region=job_region,
        action="none",
        mode=mode,
        compliant=error is None,
        reason=reason,
        figures=figures,
        status=status,
        error=error,
    )


def evaluate(
    job_name: str,
    policy: TrainingPolicy,
    now: datetime | None = None,
    mode: Mode | None = None,
    job_arn: str | None = None,
) -> Decision:
    """The policy's decision about one job now (DescribeTrainingJob, ListTags, GetMetricData;
    for a running job with inputs in S3, GetBucketLocation and, across regions, ListObjectsV2).

    A job Greenrail may not describe (AccessDenied) gets an ``action: none`` decision with
    ``figures.status`` ``Unreadable`` and the error named: not published, the watch goes on.
    """
    return evaluate_job(job_name, policy, now, mode, job_arn)[0]


def evaluate_watched(job_name: str, policy: TrainingPolicy, now: datetime | None = None,
                     job_arn: str | None = None) -> tuple[Decision, bool]:
    """One watch turn's decision about a training, processing or tuning job (by its ARN), and
    whether the job still needs watching after its end (a training job's warm pool Available)."""
    kind = _resource_type(job_arn or "")
    if kind == "processing-job":
        return evaluate_processing(job_name, policy, now, job_arn=job_arn), False
    if kind == "hyper-parameter-tuning-job":
        return training_tuning.evaluate(job_name, policy, now, job_arn=job_arn), False
    decision, job = evaluate_job(job_name, policy, now, None, job_arn)
    return decision, job is not None and job.warm_pool_status == "Available"


def evaluate_job(
    job_name: str,
    policy: TrainingPolicy,
    now: datetime | None = None,
    mode: Mode | None = None,
    job_arn: str | None = None,
) -> tuple[Decision, TrainingJobSnapshot | None]:
    """:func:`evaluate`, with the job as read (None when it could not be)."""
    now = now or datetime.now(UTC)
    mode = mode or policy.mode
    try:
        described = sagemaker.describe_training_job(job_name)
    except sagemaker.TrainingJobNotFound:
        return _gone_decision(job_name, mode, "TrainingJobNotFound: the job no longer exists", job_arn), None
    except Exception as exc:
        code = error_code(exc)
        if code not in ACCESS_DENIED_CODES:
            raise
        logger.warning("DescribeTrainingJob %s denied: %s", job_name, exc)
        return _gone_decision(
            job_name,
            mode,
            f"DescribeTrainingJob failed: {code}; the job cannot be evaluated",
            job_arn,
            status=UNREADABLE,
            error=code,
        ), None
    warm = (described.get("WarmPoolStatus") or {}).get("Status") == "Available"
    tags = (
        sagemaker.list_tags(described["TrainingJobArn"])
        if described["TrainingJobStatus"] == "InProgress" or warm
        else {}
    )
    account, job_region = job_location(described["TrainingJobArn"])
    job = TrainingJobSnapshot.from_api(described, now, account, job_region, tags)
    hosts = fetch_utilization([job], policy, now).get(job.arn, [])
    price = _price(job.instance_type, policy)
    decision = decide(job, hosts, policy, now, price, mode)
    return training_advice.advise(decision, job, policy, now, price, _locations(job, policy)), job


def _locations(job: TrainingJobSnapshot, policy: TrainingPolicy,
               regions: dict[str, str | None] | None = None) -> list[Any]:
    """Where a running job's S3 inputs live (only when the locality rule would look at them)."""
    if (not policy.data_locality.enabled or job.status != "InProgress" or not job.input_uris
            or policy.mode is Mode.OFF or policy.exemptions.exempts(job.name, job.tags)):
        return []
    return training_advice.locate_inputs(job.input_uris, job.region, policy.data_locality.max_listed_objects,
                                         regions)


def _with(decision: Decision, reason: str | None = None, **updates: Any) -> Decision:
    figures = {**decision.figures, **updates.pop("figures", {})}
    if reason:
        updates["reason"] = f"{decision.reason}; {reason}"
    return decision.model_copy(update={**updates, "figures": figures})


def _resource_type(arn: str) -> str:
    """``training-job``, ``processing-job`` or ``hyper-parameter-tuning-job``, from the ARN."""
    return arn.split(":", 5)[-1].split("/", 1)[0] if arn.startswith("arn:") else "training-job"


# What stops each kind of job the policy judges (each raises TrainingJobNotFound / TrainingJobNotStoppable).
# (API action, adapter function name: looked up at call time).
STOPPERS: Final = {
    "training-job": ("StopTrainingJob", "stop_training_job"),
    "processing-job": ("StopProcessingJob", "stop_processing_job"),
    "hyper-parameter-tuning-job": ("StopHyperParameterTuningJob", "stop_tuning_job"),
}


def apply(decision: Decision, policy: TrainingPolicy, blast_radius: BlastRadius | None = None) -> Decision:
    """Carry out a ``stop`` or ``release-warm-pool`` decision in enforce mode (recommendations are
    only announced); any other decision is returned as it is."""
    if decision.action not in ("stop", "release-warm-pool") or decision.mode is not Mode.ENFORCE or decision.applied:
        return decision
    blast_radius = blast_radius or BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)
    if not blast_radius.acquire(f"{decision.resource}#{decision.action}"):  # a retry reuses its slot
        verb = "stopped" if decision.action == "stop" else "released"
        return _with(
            decision,
            f"not {verb}: blast radius of {blast_radius.cap} {'stops' if decision.action == 'stop' else 'actions'} per hour reached",
            held_back=True,
            figures={"blocked": "BlastRadiusCapReached"},
        )
    job_name = str(decision.figures.get("job_name") or decision.resource.rsplit("/", 1)[-1])
    if decision.action == "release-warm-pool":
        return _release(decision, job_name)
    call, stopper = STOPPERS.get(_resource_type(decision.resource), STOPPERS["training-job"])
    try:
        getattr(sagemaker, stopper)(job_name)
    except sagemaker.TrainingJobNotFound:
        return _with(
            decision,
            "TrainingJobNotFound: deleted before the stop; nothing to do",
            action="none",
            compliant=True,
            status="NotFound",
            figures={"status": "NotFound"},
        )
    except sagemaker.TrainingJobNotStoppable as exc:
        return _with(
            decision,
            f"no longer InProgress when stopping ({exc}); nothing to do",
            action="none",
            compliant=True,
            figures={"stop_skipped": "NotInProgress"},
        )
    except Exception as exc:
        code = error_code(exc)
        if code not in ACCESS_DENIED_CODES:
            raise
        logger.warning("%s %s denied: %s", call, job_name, exc)
        return _with(decision, f"{call} failed: {code}", error=code, figures={"error": code})
    return _with(decision, applied=True, status="Stopping", figures={"status": "Stopping"})


def _release(decision: Decision, job_name: str) -> Decision:
    outcome = training_advice.release(job_name)
    if outcome is None:
        return _with(decision, applied=True, figures={"warm_pool_status": "Terminated"})
    if outcome in ("NotFound", "NotAvailable"):
        return _with(decision, f"warm pool no longer Available ({outcome}); nothing to do", action="none",
                     compliant=True, figures={"release_skipped": outcome})
    return _with(decision, f"UpdateTrainingJob failed: {outcome}", error=outcome, figures={"error": outcome})


def scan(policy: TrainingPolicy, mode: Mode | None = None, now: datetime | None = None) -> list[Decision]:
    """Every InProgress job, from Search (tags inline), metrics fetched in batches; then the warm
    pools, processing jobs and tuning jobs (:func:`training_advice_scan`)."""
    now = now or datetime.now(UTC)
    jobs = [
        TrainingJobSnapshot.from_api(record, now, *job_location(record.get("TrainingJobArn")))
        for record in sagemaker.search_in_progress_training_jobs()
    ]
    utilization = fetch_utilization(jobs, policy, now)
    blast_radius = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)
    decisions = []
    regions: dict[str, str | None] = {}  # GetBucketLocation once per bucket
    for job in jobs:
        price = _price(job.instance_type, policy)
        decision = decide(job, utilization.get(job.arn, []), policy, now, price, mode)
        decision = training_advice.advise(decision, job, policy, now, price, _locations(job, policy, regions))
        decisions.append(apply(decision, policy, blast_radius))
    # Around the training jobs: warm pools, processing jobs, tuning jobs (each its own listing).
    decisions += training_advice_scan(policy, mode, now, blast_radius)
    return decisions


def training_advice_scan(policy: TrainingPolicy, mode: Mode | None, now: datetime,
                         blast_radius: BlastRadius) -> list[Decision]:
    """The scan's warm pools (ListTrainingJobs), processing jobs (ListProcessingJobs) and tuning
    jobs (Search): each listed once; only what is listed is described."""
    decisions = [evaluate(name, policy, now, mode) for name in sagemaker.warm_pool_job_names()]
    found = training_processing.in_progress()
    jobs = [TrainingJobSnapshot(**training_processing.snapshot_fields(d, now, tags)) for d, tags in found]
    judged = policy.model_copy(update=training_processing.rules(policy))
    utilization = fetch_utilization([j for j, (d, _) in zip(jobs, found, strict=True)
                                     if not d.get("MonitoringScheduleArn")], judged, now)
    decisions += [decide_processing(described, job, utilization.get(job.arn, []), policy, now, mode)
                  for job, (described, _) in zip(jobs, found, strict=True)]
    decisions += training_tuning.scan(policy, mode, now)
    return [apply(decision, policy, blast_radius) for decision in decisions]


# ---------------------------------------------------------------- processing jobs (greenrail.training_processing)
def decide_processing(described: dict[str, Any], job: TrainingJobSnapshot, hosts: list[HostUtilization],
                      policy: TrainingPolicy, now: datetime, mode: Mode | None = None) -> Decision:
    """A processing job judged by the training rules with the ``processing`` thresholds; a Model
    Monitor execution never stopped."""
    judged = policy.model_copy(update=training_processing.rules(policy))
    decision = decide(job, hosts, judged, now, _price(job.instance_type, judged), mode)
    return training_processing.never_stopped(decision, described)


def evaluate_processing(job_name: str, policy: TrainingPolicy, now: datetime | None = None,
                        mode: Mode | None = None, job_arn: str | None = None) -> Decision:
    """DescribeProcessingJob, ListTags, GetMetricData (``/aws/sagemaker/ProcessingJobs``), decide."""
    now = now or datetime.now(UTC)
    mode = mode or policy.mode
    try:
        described = sagemaker.describe_processing_job(job_name)
    except sagemaker.TrainingJobNotFound:
        return training_processing.gone(job_name, mode, "ProcessingJobNotFound: the job no longer exists", job_arn)
    except Exception as exc:
        code = error_code(exc)
        if code not in ACCESS_DENIED_CODES:
            raise
        logger.warning("DescribeProcessingJob %s denied: %s", job_name, exc)
        return training_processing.gone(job_name, mode, f"DescribeProcessingJob failed: {code}; the job cannot be "
                                        "evaluated", job_arn, status=UNREADABLE, error=code)
    running = described["ProcessingJobStatus"] == "InProgress"
    tags = sagemaker.list_tags(described["ProcessingJobArn"]) if running else {}
    job = TrainingJobSnapshot(**training_processing.snapshot_fields(described, now, tags))
    judged = policy.model_copy(update=training_processing.rules(policy))
    hosts = fetch_utilization([job], judged, now).get(job.arn, []) if running else []
    return decide_processing(described, job, hosts, policy, now, mode)



def _watch_uses() -> tuple[Any, ...]:
    from greenrail import bus, document, state
    from greenrail.adapters import s3

    return (document.read_parameter, sagemaker.describe_training_job, sagemaker.list_tags,
            sagemaker.stop_training_job, cloudwatch.get_metric_series, state.BlastRadius.acquire,
            state.remember_stop, state.recall_stop, state.mark_announced, bus.publish,
            # processing and tuning jobs, warm pools, data locality (the same watch)
            sagemaker.describe_processing_job, sagemaker.stop_processing_job, sagemaker.describe_tuning_job,
            sagemaker.tuning_job_children, sagemaker.stop_tuning_job, sagemaker.release_warm_pool,
            s3.bucket_region, s3.prefix_size)


def _start_uses() -> tuple[Any, ...]:
    from greenrail import document
    from greenrail.adapters import stepfunctions

    return (document.read_parameter, stepfunctions.start_execution)


DEFINITION = PolicyDefinition(
    name=POLICY,
    summary="stop idle and runaway SageMaker training, processing and tuning jobs; release lingering warm "
            "pools; recommend Bayesian search, early stopping, completion criteria, managed spot, co-located data",
    config=TrainingPolicy,
    decide=decide,
    apply=apply,
    scan=scan,
    triggers=(
        Trigger("TrainingWatchStartFunction", _start_uses, rules=(
            Rule("TrainingInProgress", ("sagemaker-training-job-inprogress.json",),
                 ("nearmiss/training-watch-completed.json", "nearmiss/training-watch-stopping.json",
                  "nearmiss/training-watch-other-source.json", "nearmiss/training-watch-tuning-job.json",
                  "sagemaker-training-job-completed.json", "nearmiss/sagemaker-endpoint-in-service.json")),
            Rule("TuningInProgress", ("sagemaker-tuning-job-inprogress.json", "nearmiss/training-watch-tuning-job.json"),
                 ("nearmiss/sagemaker-tuning-job-completed.json", "sagemaker-training-job-inprogress.json",
                  "sagemaker-processing-job-inprogress.json")),
            Rule("ProcessingInProgress", ("sagemaker-processing-job-inprogress.json",),
                 ("nearmiss/sagemaker-processing-job-monitoring-inprogress.json", "sagemaker-processing-job-monitoring.json",
                  "nearmiss/sagemaker-processing-job-plain.json", "sagemaker-tuning-job-inprogress.json")),
        )),
        Trigger("TrainingEvaluateFunction", _watch_uses, member=True),
        Trigger("TrainingWatchStateMachine", definition="training_watch.asl.json"),
    ),
)
