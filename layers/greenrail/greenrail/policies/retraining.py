"""The retraining policy: retrain only when it pays, at the lowest-carbon hour allowed.

The whole rule, for each configured model (an endpoint and the pipeline that retrains it):

1. **Drift**: the drift source says the data drifted: a CloudWatch statistic over the lookback
   above its threshold (Evidently or any monitor publishing to CloudWatch; the namespace may be
   left out and is then discovered with ListMetrics, since AWS's own sources spell Model
   Monitor's three ways), or the latest Model Monitor execution ``CompletedWithViolations`` with
   at least ``min_violations`` violations of the listed ``check_types`` in its
   ``constraint_violations.json``. Model Monitor is closed to new AWS customers: it is one source
   among others, never required.
2. **KPI**: the model got worse: its KPI statistic over the lookback is past its threshold in the
   bad direction. No KPI data keeps the gate shut (and the decision says so).
3. **Cool-down**: no execution of the pipeline started within ``cooldown_days``, and none is
   scheduled by Greenrail.

Drift AND KPI AND cool-down: decision ``retrain`` with ``target`` ``{"pipeline",
"scheduled_for"}``, the start of the lowest-carbon hour within ``max_delay_hours``
(``greenrail.carbon_window``); in enforce mode a one-time EventBridge Scheduler schedule starts
the pipeline then, with a ``ClientRequestToken`` derived from the drift evidence, so one piece
of evidence can never start two runs. Drift but the KPI healthy (or no KPI data, or inside the
cool-down): ``hold``, naming what held the gate shut, with the compute avoided (the pipeline's
last successful run: its training jobs' billed hours x instances, priced and carbon-counted,
flagged estimated). No drift: ``none``.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from greenrail.carbon_window import WindowChoice, WindowConfig
from greenrail.config import BlastRadiusCap, Exemptions, Strict
from greenrail.decision import Decision, Mode, Savings
from greenrail.protocol import PolicyDefinition, Rule, Trigger

POLICY: Final = "retraining"
ALARM_PREFIX = "greenrail-drift-"
SCHEDULE_PREFIX = "greenrail-retrain-"
Statistic = Literal["Average", "Maximum", "Minimum", "Sum", "SampleCount"]


# ---------------------------------------------------------------- configuration (policy document `retraining:`)
class MetricSpec(Strict):
    namespace: str | None = Field(default=None, description="None: discovered with ListMetrics")
    metric_name: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    statistic: Statistic = "Average"
    threshold: float | None = None
    lookback_hours: int = Field(default=24, ge=1, le=24 * 14)


class DriftSpec(MetricSpec):
    source: Literal["cloudwatch", "model-monitor"] = "cloudwatch"
    statistic: Statistic = "Maximum"
    # model-monitor: the endpoint's data-quality schedule and what counts as drift
    schedule: str | None = None
    check_types: list[str] = Field(default_factory=lambda: ["baseline_drift_check"])
    min_violations: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _complete(self) -> DriftSpec:
        if self.source == "cloudwatch" and (self.metric_name is None or self.threshold is None):
            raise ValueError("a cloudwatch drift source needs metric_name and threshold")
        if self.source == "model-monitor" and not self.schedule:
            raise ValueError("a model-monitor drift source needs the monitoring schedule's name (schedule)")
        return self


class KpiSpec(MetricSpec):
    metric_name: str
    threshold: float
    higher_is_better: bool = True


class ModelSpec(Strict):
    endpoint: str = Field(min_length=1, max_length=63)
    pipeline: str | None = Field(default=None, description="else the endpoint's greenrail:pipeline tag")
    pipeline_parameters: dict[str, str] = Field(default_factory=dict)
    drift: DriftSpec
    kpi: KpiSpec


class RetrainingPolicy(Strict):
    """The policy document's ``retraining:`` section."""

    mode: Mode = Mode.DRY_RUN
    cooldown_days: float = Field(default=7, ge=0)
    max_delay_hours: int = Field(default=24, ge=0, le=24 * 7)
    window: WindowConfig = Field(default_factory=WindowConfig)
    models: list[ModelSpec] = Field(default_factory=list)
    pipeline_tag_key: str = "greenrail:pipeline"
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadiusCap = Field(default_factory=lambda: BlastRadiusCap(max_actions_per_hour=10))

    @model_validator(mode="after")
    def _one_entry_per_endpoint(self) -> RetrainingPolicy:
        seen: set[str] = set()
        for model in self.models:
            if model.endpoint in seen:
                raise ValueError(f"endpoint {model.endpoint} is listed twice: one entry per endpoint")
            seen.add(model.endpoint)
        return self


# ---------------------------------------------------------------- snapshots
class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class DriftEvidence(_Snapshot):
    drifted: bool
    source: str
    value: float | None = None  # the statistic, or the count of violations
    threshold: float | None = None
    evidence_id: str = ""  # stable for one piece of evidence: the same evidence, the same run
    detail: str = ""


class KpiEvidence(_Snapshot):
    value: float | None  # None: no data over the lookback
    threshold: float
    higher_is_better: bool

    @property
    def breached(self) -> bool | None:
        if self.value is None:
            return None
        return self.value < self.threshold if self.higher_is_better else self.value > self.threshold


class CooldownEvidence(_Snapshot):
    last_started: datetime | None = None  # the newest execution of the pipeline within the cool-down
    pending_schedule: str | None = None  # a run Greenrail scheduled that has not started yet


class ComputeEstimate(_Snapshot):
    """What one run of the pipeline costs: its last successful run's training jobs."""

    hours: float
    usd: float | None
    kgco2e: float | None
    kwh: float | None
    jobs: list[str] = Field(default_factory=list)


class ModelSnapshot(_Snapshot):
    endpoint: str
    endpoint_arn: str
    account: str
    region: str
    pipeline: str | None
    pipeline_arn: str | None = None
    pipeline_parameters: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    drift: DriftEvidence
    kpi: KpiEvidence
    cooldown: CooldownEvidence = Field(default_factory=CooldownEvidence)
    compute: ComputeEstimate | None = None
    problem: str | None = None  # what stopped the evaluation (endpoint or pipeline gone)


# ---------------------------------------------------------------- the gate (pure)
class Gate(_Snapshot):
    action: Literal["retrain", "hold", "none"]
    reason: str
    # why: one piece of evidence is acted on (retrain, or held by a run already started or
    # scheduled) once; a hold for another reason may still turn into a run for the same evidence
    kind: Literal["no-drift", "problem", "no-kpi", "kpi-healthy", "scheduled", "cooldown", "open"]

    @property
    def outcome(self) -> str:
        return "acted" if self.kind in ("open", "scheduled", "cooldown") else self.kind


def gate(model: ModelSnapshot, policy: RetrainingPolicy, now: datetime) -> Gate:
    """The truth table: drift AND a KPI past its threshold AND outside the cool-down."""
    drift, kpi = model.drift, model.kpi
    if not drift.drifted:
        return Gate(action="none", kind="no-drift", reason=f"no drift: {drift.detail}")
    if model.problem:
        return Gate(action="hold", kind="problem", reason=f"drift ({drift.detail}) but {model.problem}")
    breached = kpi.breached
    direction = "under" if kpi.higher_is_better else "over"
    if breached is None:
        return Gate(action="hold", kind="no-kpi", reason=f"drift ({drift.detail}) but no KPI data over the lookback: "
                                           "the gate stays shut")
    if not breached:
        return Gate(action="hold", kind="kpi-healthy", reason=f"drift ({drift.detail}) but the KPI is healthy "
                                           f"({kpi.value:g}, not {direction} {kpi.threshold:g}): retraining would change nothing")
    cooldown = model.cooldown
    if cooldown.pending_schedule:
        return Gate(action="hold", kind="scheduled", reason=f"drift and KPI {kpi.value:g} {direction} {kpi.threshold:g}, but a "
                                           f"retraining is already scheduled ({cooldown.pending_schedule})")
    if cooldown.last_started is not None:
        since = now - cooldown.last_started
        if since < timedelta(days=policy.cooldown_days):
            return Gate(action="hold", kind="cooldown", reason=f"drift and KPI {kpi.value:g} {direction} {kpi.threshold:g}, but the "
                                               f"pipeline last ran {since.total_seconds() / 86400:.1f} days ago, inside "
                                               f"the {policy.cooldown_days:g}-day cool-down")
    return Gate(action="retrain", kind="open",
                reason=f"drift ({drift.detail}) and KPI {kpi.value:g} {direction} {kpi.threshold:g}")


def client_request_token(model: ModelSnapshot) -> str:
    """StartPipelineExecution's ClientRequestToken (32-128 characters): one per piece of evidence."""
    return hashlib.sha256(f"{model.account}:{model.region}:{model.endpoint}:{model.pipeline}:"
                          f"{model.drift.evidence_id}".encode()).hexdigest()


def schedule_name(model: ModelSnapshot) -> str:
    """The schedule's name (1-64 characters): the pipeline and the evidence, so the same evidence
    is scheduled once, and the pipeline's pending runs can be listed by prefix."""
    readable = "".join(c if c.isalnum() or c in "-_" else "-" for c in model.pipeline or "")[:18]
    return f"{schedule_prefix(model.pipeline or '')}{client_request_token(model)[:16]}-{readable}".rstrip("-")


def schedule_prefix(pipeline: str) -> str:
    """One pipeline's schedules, and only its: a digest of its name (pipeline names may prefix
    one another: churn, churn-retrain)."""
    return f"{SCHEDULE_PREFIX}{hashlib.sha256(pipeline.encode()).hexdigest()[:10]}-"


def decide(model: ModelSnapshot, policy: RetrainingPolicy, now: datetime, mode: Mode | None = None,
           window: WindowChoice | None = None, event_id: str | None = None) -> Decision:
    """The retraining decision for one model (nothing is done here). ``window``: where the run
    would go, chosen by ``greenrail.carbon_window`` when the gate is open (at once without it)."""
    mode = mode or policy.mode
    verdict = gate(model, policy, now)
    figures: dict[str, Any] = {
        "endpoint": model.endpoint, "pipeline": model.pipeline,
        "drift": model.drift.model_dump(), "kpi": {**model.kpi.model_dump(), "breached": model.kpi.breached},
        "cooldown_days": policy.cooldown_days,
        "last_started": model.cooldown.last_started.isoformat() if model.cooldown.last_started else None,
    }
    base: dict[str, Any] = {"policy": POLICY, "resource": model.endpoint_arn, "account": model.account,
                            "region": model.region, "mode": mode, "event_id": event_id}
    if mode is Mode.OFF or policy.exemptions.exempts(model.endpoint, model.tags):
        why = "retraining policy is off" if mode is Mode.OFF else "exempt (tag or name pattern): not evaluated"
        return Decision(**base, action="none", compliant=True, reason=why, figures=figures,
                        severity="INFORMATIONAL")
    if verdict.action == "none":
        return Decision(**base, action="none", compliant=True, reason=verdict.reason, figures=figures,
                        severity="INFORMATIONAL")
    compute = model.compute
    if compute is not None:
        figures["compute"] = compute.model_dump()
    if verdict.action == "hold":
        figures["savings_basis"] = ("one-off, estimated: one run of the pipeline (its last successful run's "
                                    "training jobs, billed hours x instances) not spent")
        avoided = Savings(usd_per_month=round(compute.usd or 0.0, 2), kgco2e_per_month=round(compute.kgco2e or 0.0, 4)) \
            if compute else Savings()
        reason = verdict.reason + (f"; avoided about ${compute.usd:.2f} and {compute.kgco2e:.3f} kgCO2e (estimated)"
                                   if compute and compute.usd is not None and compute.kgco2e is not None else "")
        return Decision(**base, action="hold", compliant=False, reason=reason, figures=figures, savings=avoided,
                        severity="INFORMATIONAL", error=model.problem)
    at = window.scheduled_for if window else now
    figures["window"] = window.model_dump(mode="json") if window else {"source": "none", "note": "no window chosen"}
    kg_avoided = window.kgco2e_avoided(compute.kwh) if window and compute and compute.kwh else None
    figures["kgco2e_avoided_by_waiting"] = kg_avoided
    figures["client_request_token"] = client_request_token(model)
    figures["schedule_name"] = schedule_name(model)
    when = "at once" if at <= now + timedelta(minutes=1) else f"at {at.isoformat()}"
    note = f" ({window.note})" if window and window.note else ""
    return Decision(
        **base, action="retrain", compliant=False, severity="MEDIUM",
        target={"pipeline": model.pipeline, "scheduled_for": at.astimezone(UTC).isoformat().replace("+00:00", "Z")},
        reason=f"{verdict.reason}: retrain {when}, the lowest-carbon hour within {policy.max_delay_hours} h{note}",
        figures=figures, savings=Savings(kgco2e_per_month=round(kg_avoided or 0.0, 4)),
    )


# ---------------------------------------------------------------- loading (through the adapters)
def _metric_value(spec: MetricSpec, endpoint: str, now: datetime) -> tuple[float | None, str | None, str, str]:
    """(statistic over the lookback, namespace used, the newest datapoint's time, the extreme
    datapoint's time for Maximum and Minimum) for one metric."""
    from greenrail.adapters import cloudwatch

    assert spec.metric_name is not None
    namespace = spec.namespace
    if namespace is None:
        found = cloudwatch.namespaces_of(spec.metric_name, spec.dimensions)
        if not found:
            return None, None, "", ""
        namespace = found[0]
    lookback = spec.lookback_hours * 3600
    period = 3600 if lookback >= 3600 else 300
    query = cloudwatch.MetricQuery(id="m", namespace=namespace, metric=spec.metric_name,
                                   dimensions=spec.dimensions, stat=spec.statistic)
    # periods aligned on the clock, so that a datapoint keeps its period (and the evidence its
    # id) however many seconds apart two evaluations run
    start = datetime.fromtimestamp(math.floor((now.timestamp() - lookback) / period) * period, UTC)
    series = cloudwatch.get_metric_series([query], start, now, period)["m"]
    value = cloudwatch.aggregate(series.values, spec.statistic)
    newest = max(series.timestamps).isoformat() if series.timestamps else ""
    extreme = ""
    if value is not None and spec.statistic in ("Maximum", "Minimum"):
        extreme = min(t for t, v in zip(series.timestamps, series.values, strict=True) if v == value).isoformat()
    return value, namespace, newest, extreme


def _cloudwatch_drift(spec: DriftSpec, endpoint: str, now: datetime) -> DriftEvidence:
    value, namespace, newest, extreme_at = _metric_value(spec, endpoint, now)
    if value is None:
        return DriftEvidence(drifted=False, source="cloudwatch", threshold=spec.threshold,
                             detail=f"no {spec.metric_name} data over {spec.lookback_hours} h")
    assert spec.threshold is not None
    drifted = value > spec.threshold
    # One piece of evidence: for Maximum (Minimum), the datapoint that carries it, the same for as
    # long as it stays in the lookback; for the other statistics, the lookback window it was seen in.
    anchor = extreme_at or str(math.floor(now.timestamp() / (spec.lookback_hours * 3600)))
    return DriftEvidence(
        drifted=drifted, source="cloudwatch", value=value, threshold=spec.threshold,
        evidence_id=f"cloudwatch:{namespace}:{spec.metric_name}:{sorted(spec.dimensions.items())}:{anchor}",
        detail=f"{spec.statistic} {spec.metric_name} {value:g} {'>' if drifted else '<='} {spec.threshold:g} "
               f"over {spec.lookback_hours} h ({namespace})" + (f", newest point {newest}" if newest else ""),
    )


def _monitor_drift(spec: DriftSpec, endpoint: str, now: datetime) -> DriftEvidence:
    from greenrail.adapters import pipelines

    execution = pipelines.latest_monitoring_execution(endpoint, spec.schedule)
    if execution is None:
        return DriftEvidence(drifted=False, source="model-monitor", detail=f"no monitoring execution of {spec.schedule}")
    status = execution.get("MonitoringExecutionStatus")
    job_arn = str(execution.get("ProcessingJobArn") or "")
    scheduled = execution.get("ScheduledTime")
    if isinstance(scheduled, datetime) and now - scheduled > timedelta(hours=spec.lookback_hours):
        return DriftEvidence(drifted=False, source="model-monitor",
                             detail=f"latest execution of {spec.schedule} is older than {spec.lookback_hours} h")
    if status != "CompletedWithViolations" or not job_arn:
        return DriftEvidence(drifted=False, source="model-monitor", detail=f"latest execution of {spec.schedule}: {status}")
    job = pipelines.describe_processing_job(job_arn.rsplit("/", 1)[-1])
    outputs = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    uri = next((o.get("S3Output", {}).get("S3Uri") for o in outputs if o.get("S3Output", {}).get("S3Uri")), None)
    if not uri:
        return DriftEvidence(drifted=False, source="model-monitor", detail=f"{job_arn}: no report location")
    from greenrail.aws import error_code

    try:
        report = pipelines.read_json(uri.rstrip("/") + "/constraint_violations.json")
        listed = report.get("violations") if isinstance(report, dict) else None
        if not isinstance(listed, list):
            raise ValueError("no violations list")
        violations = [v for v in listed if isinstance(v, dict)]
    except (ValueError, RecursionError) as exc:  # a malformed report: no evidence, said so
        return DriftEvidence(drifted=False, source="model-monitor",
                             detail=f"violations report malformed ({type(exc).__name__}): no drift evidence")
    except Exception as exc:
        if error_code(exc) not in ("NoSuchKey", "404"):
            raise  # access denied, throttling: not "no drift" (the evaluation fails and says so)
        return DriftEvidence(drifted=False, source="model-monitor",
                             detail="no violations report for the latest execution: no drift evidence")
    counted = [v for v in violations if v.get("constraint_check_type") in spec.check_types]
    drifted = len(counted) >= spec.min_violations
    features = sorted({str(v.get("feature_name")) for v in counted})[:5]
    return DriftEvidence(
        drifted=drifted, source="model-monitor", value=float(len(counted)), threshold=float(spec.min_violations),
        evidence_id=f"model-monitor:{job_arn}",
        detail=f"{len(counted)} {'/'.join(spec.check_types)} violation(s) in {spec.schedule}'s latest execution"
               + (f" ({', '.join(features)})" if features else ""),
    )


def _compute(pipeline: str, region: str) -> ComputeEstimate | None:
    """One run of the pipeline: its last successful execution's training jobs (estimated)."""
    from greenrail import carbon
    from greenrail.adapters import pipelines, sagemaker
    from greenrail.pricing import training_price

    execution = pipelines.last_succeeded_execution(pipeline)
    if execution is None:
        return None
    hours = usd = kg = kwh = 0.0
    priced = counted = True
    jobs = []
    for arn in pipelines.training_job_arns(str(execution["PipelineExecutionArn"])):
        try:
            job = sagemaker.describe_training_job(arn.rsplit("/", 1)[-1])
        except sagemaker.TrainingJobNotFound:
            continue
        jobs.append(arn)
        config = job.get("ResourceConfig") or {}
        seconds = job.get("BillableTimeInSeconds") or job.get("TrainingTimeInSeconds") or 0
        job_hours, count, kind = float(seconds) / 3600, int(config.get("InstanceCount", 1)), config.get("InstanceType", "")
        hours += job_hours * count
        try:
            usd += training_price(kind).usd_per_hour * job_hours * count
        except (KeyError, ValueError):
            priced = False
        try:
            estimate = carbon.estimate(kind, job_hours, region, count=count)
            kg += estimate.kgco2e
            kwh += estimate.kwh
        except ValueError:
            counted = False
    if not jobs:
        return None
    return ComputeEstimate(hours=round(hours, 4), usd=round(usd, 2) if priced else None,
                           kgco2e=round(kg, 4) if counted else None, kwh=round(kwh, 4) if counted else None, jobs=jobs)


def load_model(spec: ModelSpec, policy: RetrainingPolicy, now: datetime) -> ModelSnapshot:
    """Everything the gate needs about one model, read now (its account: the caller's acting_in)."""
    from greenrail import settings as settings_module
    from greenrail.adapters import pipelines, sagemaker
    from greenrail.arn import location
    from greenrail.aws import account_id, region

    problem = None
    try:
        endpoint = sagemaker.describe_endpoint(spec.endpoint)
        arn = str(endpoint["EndpointArn"])
        tags = sagemaker.list_tags(arn)
    except sagemaker.EndpointNotFound:
        endpoint, tags, problem = {}, {}, f"endpoint {spec.endpoint} does not exist"
        arn = f"arn:aws:sagemaker:{region()}:{account_id()}:endpoint/{spec.endpoint.lower()}"
    account, where = location(arn)
    drift = (_monitor_drift if spec.drift.source == "model-monitor" else _cloudwatch_drift)(spec.drift, spec.endpoint, now)
    kpi_value = _metric_value(spec.kpi, spec.endpoint, now)[0] if drift.drifted else None
    kpi = KpiEvidence(value=kpi_value, threshold=spec.kpi.threshold, higher_is_better=spec.kpi.higher_is_better)
    pipeline = spec.pipeline or tags.get(policy.pipeline_tag_key)
    snapshot = ModelSnapshot(endpoint=spec.endpoint, endpoint_arn=arn, account=account or account_id(),
                             region=where or region(), pipeline=pipeline, pipeline_parameters=spec.pipeline_parameters,
                             tags=tags, drift=drift, kpi=kpi, problem=problem)
    if not drift.drifted or problem:
        return snapshot
    if not pipeline:
        return snapshot.model_copy(update={"problem": f"no pipeline named (policy or tag {policy.pipeline_tag_key})"})
    try:
        described = pipelines.describe_pipeline(pipeline)
    except pipelines.PipelineNotFound:
        return snapshot.model_copy(update={"problem": f"pipeline {pipeline} does not exist: nothing to start"})
    since = now - timedelta(days=policy.cooldown_days)
    recent = pipelines.executions_since(pipeline, since)
    started = [e["StartTime"] for e in recent if isinstance(e.get("StartTime"), datetime)]
    group = settings_module.settings().retraining_schedule_group
    pending = pipelines.pending_schedules(group, schedule_prefix(pipeline)) if group else []
    # this very evidence's own schedule is not a reason to hold: it is the same decision again
    pending = [name for name in pending if name != schedule_name(snapshot.model_copy(update={"pipeline": pipeline}))]
    cooldown = CooldownEvidence(last_started=max(started) if started else None,
                                pending_schedule=pending[0] if pending else None)
    return snapshot.model_copy(update={"pipeline_arn": described.get("PipelineArn"), "cooldown": cooldown,
                                       "compute": _compute_or_none(pipeline, snapshot.region)})


def _compute_or_none(pipeline: str, region: str) -> ComputeEstimate | None:
    """The compute estimate is informational: when it cannot be read, the decision goes on without it."""
    import logging

    from greenrail.aws import error_code

    try:
        return _compute(pipeline, region)
    except Exception as exc:  # noqa: BLE001 - an estimate, never a reason to fail the gate
        logging.getLogger(__name__).warning("compute of the last run not estimated", extra={"error": error_code(exc)})
        return None


# ---------------------------------------------------------------- applying
ALLOWED_TAG = "greenrail:retraining"  # a pipeline tagged greenrail:retraining=allowed may be started


def may_start(model: ModelSnapshot, pattern: str | None) -> bool:
    """Whether the schedules' role (template.yaml, RetrainingSchedulerRole) may start the pipeline:
    its name matches RetrainingPipelinePattern, or it is tagged for Greenrail. A schedule whose
    role may not start its target would fail at its hour, after the decision said "scheduled"."""
    import fnmatch

    from greenrail.adapters import sagemaker

    if pattern is None or fnmatch.fnmatchcase(str(model.pipeline), pattern):
        return True
    return bool(model.pipeline_arn) and sagemaker.list_tags(str(model.pipeline_arn)).get(ALLOWED_TAG) == "allowed"
def apply(decision: Decision, model: ModelSnapshot, policy: RetrainingPolicy, blast_radius: Any) -> Decision:
    """Schedule the run (enforce mode): one schedule per piece of evidence, whatever happens twice."""
    from greenrail.adapters import pipelines
    from greenrail.aws import error_code, is_permanent
    from greenrail.settings import settings

    if decision.action != "retrain" or decision.mode is not Mode.ENFORCE or decision.applied:
        return decision
    config = settings()
    if not (config.retraining_schedule_group and config.retraining_scheduler_role_arn and model.pipeline_arn):
        return decision.model_copy(update={"error": "NotConfigured", "reason": decision.reason +
                                           "; not scheduled: no schedule group or scheduler role in this deployment"})
    if not may_start(model, config.retraining_pipeline_pattern):
        return decision.model_copy(update={"error": "PipelineNotAllowed", "reason": decision.reason +
                                           f"; not scheduled: the schedules' role may start only pipelines named "
                                           f"{config.retraining_pipeline_pattern} or tagged {ALLOWED_TAG}=allowed"})
    if not blast_radius.acquire(f"{decision.resource}#schedule/{decision.figures['schedule_name']}"):
        return decision.model_copy(update={"held_back": True, "reason": decision.reason +
                                           f"; not scheduled: blast radius of {policy.blast_radius.max_actions_per_hour} "
                                           "per hour reached"})
    at = datetime.fromisoformat(str(decision.target["scheduled_for"]).replace("Z", "+00:00"))
    name = str(decision.figures["schedule_name"])
    try:
        arn = pipelines.schedule_pipeline_start(
            name, config.retraining_schedule_group, max(at, datetime.now(UTC) + timedelta(minutes=1)),
            str(model.pipeline), model.pipeline_parameters, client_request_token(model),
            config.retraining_scheduler_role_arn, config.dead_letter_queue_arn,
            f"Greenrail retraining of {model.endpoint}: {model.drift.detail}"[:512])
    except pipelines.AlreadyScheduled:
        return decision.model_copy(update={"applied": True, "already_applied": True, "compliant": True,
                                           "reason": decision.reason + f"; already scheduled ({name})"})
    except Exception as exc:
        if not is_permanent(exc):
            raise  # throttling that outlived botocore's retries: retried by the caller's retry
        code = error_code(exc)
        return decision.model_copy(update={"error": code, "reason": decision.reason + f"; not scheduled: {code}"})
    # scheduled: the model's drift is being dealt with (the finding passes, like an applied tag)
    return decision.model_copy(update={"applied": True, "compliant": True,
                                       "figures": {**decision.figures, "schedule_arn": arn}})


def assess(spec: ModelSpec, policy: RetrainingPolicy, mode: Mode, now: datetime,
           event_id: str | None = None) -> tuple[ModelSnapshot, Decision]:
    """Load one model (in its account: the caller's ``acting_in``) and decide; the window is
    chosen (a live source may be asked) only when the gate opens."""
    from greenrail.carbon_window import choose_window

    model = load_model(spec, policy, now)
    window = None
    if mode is not Mode.OFF and gate(model, policy, now).action == "retrain":
        window = choose_window(model.region, now, policy.max_delay_hours, policy.window)
    return model, decide(model, policy, now, mode, window, event_id)


def unevaluated(spec: ModelSpec, mode: Mode, code: str) -> Decision:
    """A model that could not be evaluated (access denied, a refused request): a decision that
    says so, rather than silence."""
    from greenrail.aws import account_id, region

    return Decision(policy=POLICY, resource=f"arn:aws:sagemaker:{region()}:{account_id()}:endpoint/{spec.endpoint.lower()}",
                    account=account_id(), region=region(), action="hold", mode=mode, compliant=False,
                    severity="LOW", error=code, figures={"endpoint": spec.endpoint, "pipeline": spec.pipeline},
                    reason=f"could not evaluate {spec.endpoint}: {code}; no run (fix the access and the next "
                           "event or daily sweep evaluates it again)")


def scan(policy: RetrainingPolicy, mode: Mode | None = None, now: datetime | None = None) -> list[Decision]:
    """Every configured model now (``greenrail scan --policies retraining``); schedules in enforce
    mode, within the blast radius counted in this process; announces nothing."""
    from greenrail.state import BlastRadius

    mode, now = mode or policy.mode, now or datetime.now(UTC)
    blast = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour, table="")
    decisions = []
    for spec in policy.models:
        try:
            model, decision = assess(spec, policy, mode, now)
        except Exception as exc:  # one model's failure is its own line, never every model's
            from greenrail.aws import error_code, is_permanent

            if not is_permanent(exc):
                raise
            decisions.append(unevaluated(spec, mode, error_code(exc)))
            continue
        decisions.append(apply(decision, model, policy, blast))
    return decisions


def _uses() -> tuple[Any, ...]:
    from greenrail import bus, carbon_window, document, state
    from greenrail.adapters import cloudwatch, pipelines, sagemaker

    return (document.read_parameter, sagemaker.describe_endpoint, sagemaker.list_tags,
            sagemaker.describe_training_job, cloudwatch.namespaces_of, cloudwatch.get_metric_series,
            cloudwatch.put_threshold_alarm, pipelines.describe_pipeline, pipelines.executions_since,
            pipelines.last_succeeded_execution, pipelines.training_job_arns, pipelines.latest_monitoring_execution,
            pipelines.describe_processing_job, pipelines.read_json, pipelines.pending_schedules,
            pipelines.schedule_pipeline_start, carbon_window.api_key, state.run_once, state.BlastRadius.acquire,
            bus.publish)


DEFINITION = PolicyDefinition(
    name=POLICY,
    summary="retrain only on drift AND a falling KPI, at the lowest-carbon hour",
    config=RetrainingPolicy,
    decide=decide,
    apply=apply,
    scan=scan,
    triggers=(
        # Models live in the deploying account: the schedule's role starts pipelines there only.
        Trigger("RetrainingFunction", _uses, rules=(
            Rule("DriftAlarm", ("cloudwatch-alarm-drift.json",),
                 ("nearmiss/cloudwatch-alarm-drift-ok.json", "nearmiss/cloudwatch-alarm-other.json",
                  "s3-object-created.json")),
            Rule("MonitoringExecution", ("sagemaker-processing-job-monitoring.json",),
                 ("nearmiss/sagemaker-processing-job-plain.json", "nearmiss/sagemaker-processing-job-failed.json",
                  "sagemaker-training-job-completed.json")),
        )),
    ),
)
