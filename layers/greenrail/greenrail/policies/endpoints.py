"""The endpoints policy: downsize real-time endpoints from Inference Recommender, safely; catch idle ones.

For each production variant of each real-time endpoint (``decide``, pure):

1. **Idle**: no invocations over ``idle_days`` (the endpoint at least that old):
   ``recommend-serverless`` when the model fits serverless inference (CPU only, memory within
   6 GB, no data capture, no VPC, one variant), else ``recommend-async`` (used within the
   lookback: asynchronous inference scales to zero) or ``recommend-delete`` (unused over the
   whole lookback; deleted in enforce mode only with ``allow_delete``, keeping the config).
2. **Downsize**: the cheapest Inference Recommender recommendation (newest COMPLETED job for the
   variant's model) whose ``MaxInvocations`` covers the observed peak invocations per minute x
   ``headroom``, whose ``ModelLatency`` (ms) meets ``latency_slo_ms`` (or the observed p99
   ``ModelLatency``, CloudWatch's microseconds / 1000, plus ``latency_tolerance_ms``), which keeps
   at least ``min_instance_count`` instances and saves at least ``min_savings``. Ties: fewer
   instances, then lower latency. Recommendations with a missing or NaN metric are skipped.
   Going from two or more instances to one says so (Security Hub control SageMaker.4).
3. **Autoscaling**: several instances, no Application Auto Scaling target, and a load that
   varies (peak over median per minute above ``autoscaling_peak_to_median``):
   ``recommend-autoscaling`` with a target-tracking configuration.
4. Otherwise ``none``, naming the binding constraint and the best near-miss.

Never touched: exempt endpoints, endpoints not InService (updating, rolling back, failed),
serverless variants, and a model whose downsize rolled back (tag ``greenrail:endpoints-rolled-back``
holds its digest) until the model changes. In enforce mode a downsize creates a new endpoint
config (everything copied, same variant name, Greenrail's tags), alarms on the variant's
``ModelLatency`` and ``Invocation5XXErrors``, and a blue/green ``UpdateEndpoint`` with
``AutoRollbackConfiguration`` on those alarms (``apply``); the Step Functions workflow
(``statemachines/endpoint_rightsizing.asl.json``) follows the deployment to its end.
"""

from __future__ import annotations

import hashlib
import math
import re
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from greenrail.config import OWNER_TAG_KEY, BlastRadiusCap, Exemptions, Strict
from greenrail.decision import Action, Decision, Mode, Savings
from greenrail.protocol import PolicyDefinition, Rule, Trigger

POLICY: Final = "endpoints"
HOURS_PER_MONTH: Final = 730  # AWS's own monthly-hours convention (pricing calculator)
SERVERLESS_MAX_MEMORY_MB: Final = 6144  # ProductionVariantServerlessConfig MemorySizeInMB: 1024-6144
MICROSECONDS_PER_MS: Final = 1000.0  # CloudWatch ModelLatency is in microseconds, Inference Recommender's in ms
ALARM_PREFIX: Final = "greenrail-endpoint-"
CONFIG_SUFFIX: Final = "-greenrail-"


# ---------------------------------------------------------------- configuration (policy document `endpoints:`)
class MinSavings(Strict):
    """A downsize must save at least both of these against the variant's current cost."""

    usd_per_month: float = Field(default=25.0, ge=0)
    percent: float = Field(default=10.0, ge=0, le=100)


class TrafficRouting(Strict):
    """The blue/green deployment's traffic shifting (UpdateEndpoint BlueGreenUpdatePolicy)."""

    type: Literal["canary", "linear", "all-at-once"] = "canary"
    canary_percent: int = Field(default=10, ge=1, le=50)  # CAPACITY_PERCENT of the new fleet first
    linear_step_percent: int = Field(default=25, ge=5, le=50)
    bake_minutes: int = Field(default=30, ge=0, le=60)  # WaitIntervalInSeconds: 0-3600
    termination_wait_minutes: int = Field(default=10, ge=0, le=60)  # TerminationWaitInSeconds: 0-3600
    max_deployment_minutes: int = Field(default=180, ge=10, le=480)  # MaximumExecutionTimeoutInSeconds: 600-28800


class EndpointsPolicy(Strict):
    """The policy document's ``endpoints:`` section."""

    mode: Mode = Mode.DRY_RUN
    # 1-minute datapoints are kept 15 days (CloudWatch retention): the per-minute peak needs them
    lookback_days: int = Field(default=14, ge=1, le=15)
    min_history_days: float = Field(default=3, ge=0)
    headroom: float = Field(default=1.3, ge=1.0, le=10.0)
    latency_slo_ms: float | None = Field(default=None, gt=0)
    latency_tolerance_ms: float = Field(default=20.0, ge=0)  # without an SLO: observed p99 + this
    min_savings: MinSavings = Field(default_factory=MinSavings)
    allow_start_recommendation_job: bool = False
    recommendation_job_role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
    max_recommendation_wait_minutes: int = Field(default=120, ge=10, le=24 * 60)
    recommendation_poll_minutes: int = Field(default=10, ge=1, le=60)
    traffic_routing: TrafficRouting = Field(default_factory=TrafficRouting)
    max_latency_alarm_ms: float | None = Field(default=None, gt=0)  # the rollback alarm (else the latency limit)
    max_5xx_errors_per_minute: float = Field(default=5, ge=0)
    deployment_poll_minutes: int = Field(default=5, ge=1, le=60)
    settle_minutes: int = Field(default=15, ge=0, le=24 * 60)  # after an endpoint comes InService
    idle_days: int = Field(default=7, ge=1, le=15)
    allow_delete: bool = False
    autoscaling_peak_to_median: float = Field(default=3.0, ge=1.0)
    autoscaling_target_fraction: float = Field(default=0.5, gt=0, le=1)  # of MaxInvocations per instance
    min_instance_count: int = Field(default=1, ge=1)
    price_overrides_usd_per_hour: dict[str, float] = Field(default_factory=dict)
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadiusCap = Field(default_factory=lambda: BlastRadiusCap(max_actions_per_hour=5))

    @model_validator(mode="after")
    def _job_role(self) -> EndpointsPolicy:
        if self.allow_start_recommendation_job and not self.recommendation_job_role_arn:
            raise ValueError("allow_start_recommendation_job needs recommendation_job_role_arn (the job's role)")
        if any(price < 0 for price in self.price_overrides_usd_per_hour.values()):
            raise ValueError("price_overrides_usd_per_hour: prices are zero or more")
        return self


# ---------------------------------------------------------------- snapshots
class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Recommendation(_Snapshot):
    """One of Inference Recommender's ``InferenceRecommendations`` (its own test endpoint's
    names are never the production variant's)."""

    instance_type: str | None
    instance_count: int = 1
    cost_per_hour: float | None = None  # USD, the whole configuration
    max_invocations: float | None = None  # per minute
    model_latency_ms: float | None = None
    cpu_utilization: float | None = None
    memory_utilization: float | None = None
    serverless: bool = False
    recommendation_id: str | None = None

    @property
    def usable(self) -> bool:
        values = (self.cost_per_hour, self.max_invocations, self.model_latency_ms)
        return bool(self.instance_type) and not self.serverless and all(
            v is not None and math.isfinite(v) and v >= 0 for v in values)


class Load(_Snapshot):
    """What CloudWatch says of one variant over the lookback."""

    history_days: float  # the lookback, or less: the endpoint's age or the oldest datapoint's, the longer
    datapoints: int = 0  # minutes with Invocations data
    peak_per_minute: float | None = None  # the largest Sum of Invocations in one minute
    median_per_minute: float | None = None  # over the minutes with data
    invocations_idle_window: float = 0.0  # Sum over the last idle_days
    invocations_lookback: float = 0.0
    p99_latency_ms: float | None = None  # CloudWatch ModelLatency p99 (microseconds) / 1000


class RecommendationJob(_Snapshot):
    name: str | None = None
    status: str | None = None  # COMPLETED, IN_PROGRESS, ..., or None: no job
    failure: str | None = None
    started_by_greenrail: bool = False
    gave_up: bool = False  # the workflow waited max_recommendation_wait_minutes


class Variant(_Snapshot):
    endpoint: str
    endpoint_arn: str
    account: str
    region: str
    endpoint_status: str
    config_name: str
    variant: str
    model_name: str | None = None
    instance_type: str | None = None
    instance_count: int = 1
    accelerator: str | None = None
    serverless: bool = False
    variants_on_endpoint: int = 1
    data_capture: bool = False
    vpc: bool = False
    autoscaled: bool = False
    age_days: float = 0.0
    tags: dict[str, str] = Field(default_factory=dict)
    model_digest: str = ""  # the models behind the endpoint: a change means a new model
    job: RecommendationJob = Field(default_factory=RecommendationJob)
    recommendations: list[Recommendation] = Field(default_factory=list)
    load: Load | None = None
    price_per_instance_hour: float | None = None
    price_source: str | None = None
    problem: str | None = None


# ---------------------------------------------------------------- the selection rule (pure)
Constraint = Literal["throughput", "latency", "instance-floor", "savings"]


class Candidate(_Snapshot):
    recommendation: Recommendation
    failed: list[Constraint] = Field(default_factory=list)
    saving_usd_per_month: float = 0.0


class Selection(_Snapshot):
    chosen: Candidate | None = None
    near_miss: Candidate | None = None
    binding: Constraint | None = None
    considered: int = 0
    skipped_missing_metrics: int = 0
    required_invocations: float = 0.0
    latency_limit_ms: float | None = None
    latency_basis: str = ""
    current_usd_per_hour: float = 0.0
    min_saving_usd_per_month: float = 0.0


def latency_limit(load: Load, policy: EndpointsPolicy) -> tuple[float | None, str]:
    """The latency a recommendation must meet (ms), and what it is based on."""
    if policy.latency_slo_ms is not None:
        return policy.latency_slo_ms, f"the {policy.latency_slo_ms:g} ms SLO"
    if load.p99_latency_ms is None or not math.isfinite(load.p99_latency_ms):
        return None, "no observed p99 ModelLatency and no SLO"
    limit = load.p99_latency_ms + policy.latency_tolerance_ms
    return limit, f"the observed p99 {load.p99_latency_ms:.1f} ms + {policy.latency_tolerance_ms:g} ms tolerance"


def select(variant: Variant, load: Load, current_usd_per_hour: float, policy: EndpointsPolicy) -> Selection:
    """The cheapest recommendation that covers the peak x headroom, meets the latency limit,
    keeps the instance floor and saves the minimum; else the best near-miss and what bound."""
    required = (load.peak_per_minute or 0.0) * policy.headroom
    limit, basis = latency_limit(load, policy)
    current_monthly = current_usd_per_hour * HOURS_PER_MONTH
    minimum = max(policy.min_savings.usd_per_month, current_monthly * policy.min_savings.percent / 100)
    candidates: list[Candidate] = []
    skipped = 0
    for rec in variant.recommendations:
        if not rec.usable:
            skipped += 1
            continue
        if rec.instance_type == variant.instance_type and rec.instance_count == variant.instance_count:
            continue  # the variant as it is
        assert rec.cost_per_hour is not None and rec.max_invocations is not None and rec.model_latency_ms is not None
        saving = (current_usd_per_hour - rec.cost_per_hour) * HOURS_PER_MONTH
        failed: list[Constraint] = []
        if rec.max_invocations < required:
            failed.append("throughput")
        if limit is None or rec.model_latency_ms > limit:
            failed.append("latency")
        if rec.instance_count < policy.min_instance_count:
            failed.append("instance-floor")
        if saving < minimum:
            failed.append("savings")
        candidates.append(Candidate(recommendation=rec, failed=failed, saving_usd_per_month=round(saving, 2)))

    def order(c: Candidate) -> tuple[float, int, float]:
        r = c.recommendation
        return (r.cost_per_hour or 0.0, r.instance_count, r.model_latency_ms or 0.0)

    base: dict[str, Any] = {"considered": len(candidates), "skipped_missing_metrics": skipped, "required_invocations": round(required, 2),
            "latency_limit_ms": limit, "latency_basis": basis, "current_usd_per_hour": current_usd_per_hour,
            "min_saving_usd_per_month": round(minimum, 2)}
    fitting = sorted((c for c in candidates if not c.failed), key=order)
    if fitting:
        return Selection(chosen=fitting[0], **base)
    # the near-miss: the cheaper options first (a dearer one "missing" on savings is no near-miss),
    # then the fewest failed constraints, then the cheapest
    cheaper = [c for c in candidates if "savings" not in c.failed] or candidates
    near = min(cheaper, key=lambda c: (len(c.failed), *order(c))) if cheaper else None
    return Selection(near_miss=near, binding=near.failed[0] if near else None, **base)


def serverless_fit(variant: Variant) -> tuple[bool, str, int | None]:
    """(fits, why not, MemorySizeInMB) for serverless inference: CPU only, memory within 6 GB,
    no data capture, no VPC, one variant."""
    from greenrail.carbon import instance_spec

    reasons = []
    memory_mb: int | None = None
    if variant.variants_on_endpoint > 1:
        reasons.append(f"{variant.variants_on_endpoint} variants")
    if variant.data_capture:
        reasons.append("data capture on")
    if variant.vpc:
        reasons.append("in a VPC")
    if variant.accelerator:
        reasons.append(f"accelerator {variant.accelerator}")
    try:
        spec = instance_spec(variant.instance_type or "")
    except (KeyError, ValueError):
        reasons.append(f"instance type {variant.instance_type} unknown")
    else:
        if spec.gpu_count or spec.gpu_model:  # GPUs, Inferentia, Trainium: serverless is CPU only
            reasons.append(f"{variant.instance_type} has accelerators ({spec.gpu_model})")
        used = _used_memory_fraction(variant)
        need_mb = spec.memory_gib * 1024 * (used if used is not None else 1.0)
        memory_mb = max(1024, int(math.ceil(need_mb / 1024)) * 1024)
        if memory_mb > SERVERLESS_MAX_MEMORY_MB:
            reasons.append(f"needs about {need_mb / 1024:.1f} GB of memory (serverless: 6 GB at most)")
    return (not reasons, ", ".join(reasons), memory_mb if not reasons else None)


def _used_memory_fraction(variant: Variant) -> float | None:
    """The model's memory use on its instance type, from a recommendation of that type."""
    for rec in variant.recommendations:
        if rec.instance_type == variant.instance_type and rec.memory_utilization is not None \
                and math.isfinite(rec.memory_utilization):
            return min(1.0, max(0.0, rec.memory_utilization / 100))
    return None


def model_digest(models: list[str]) -> str:
    return hashlib.sha256(",".join(sorted(models)).encode()).hexdigest()[:16]


def _monthly_carbon(instance_type: str | None, count: int, region: str, cpu_util: float | None = None) -> float | None:
    from greenrail import carbon

    try:
        return carbon.estimate(instance_type or "", HOURS_PER_MONTH, region, count=count, cpu_util=cpu_util).kgco2e
    except (KeyError, ValueError):
        return None


def _observed_cpu(rec: Recommendation | None, load: Load | None) -> float | None:
    """The CPU utilisation (0-1) of ``rec``'s configuration at the observed median load:
    Inference Recommender's ``CpuUtilization`` (measured at ``MaxInvocations``) scaled by the
    median invocations per minute over ``MaxInvocations``; None without those figures."""
    if rec is None or load is None or load.median_per_minute is None:
        return None
    cpu, most = rec.cpu_utilization, rec.max_invocations
    if cpu is None or most is None or not (math.isfinite(cpu) and math.isfinite(most)) or most <= 0:
        return None
    return round(min(1.0, max(0.0, cpu / 100 * min(1.0, load.median_per_minute / most))), 4)


def decide(variant: Variant, policy: EndpointsPolicy, mode: Mode | None = None, now: datetime | None = None,
           event_id: str | None = None) -> Decision:
    """The decision for one production variant (nothing is done here)."""
    mode = mode or policy.mode
    figures: dict[str, Any] = {
        "endpoint": variant.endpoint, "variant": variant.variant, "model": variant.model_name,
        "endpoint_config": variant.config_name, "instance_type": variant.instance_type,
        "instance_count": variant.instance_count, "endpoint_status": variant.endpoint_status,
        "recommendation_job": variant.job.model_dump(),
    }
    if variant.load is not None:
        figures["load"] = variant.load.model_dump()
    base: dict[str, Any] = {"policy": POLICY, "resource": variant.endpoint_arn, "account": variant.account,
                            "region": variant.region, "mode": mode, "event_id": event_id,
                            "status": variant.endpoint_status, "owner": variant.tags.get(OWNER_TAG_KEY)}

    def none(reason: str, compliant: bool = True, error: str | None = None) -> Decision:
        return Decision(**base, action="none", compliant=compliant, reason=reason, figures=figures,
                        severity="INFORMATIONAL", error=error)

    untouched = _untouchable(variant, policy, mode)
    if untouched:
        return none(untouched, error="Unreadable" if variant.problem else None)
    load = variant.load
    if load is None or (load.datapoints == 0 and load.history_days < policy.idle_days):
        days = load.history_days if load is not None else variant.age_days
        return none(f"no CloudWatch data for variant {variant.variant} yet ({days:.1f} days of history): no change")
    if load.history_days >= policy.idle_days and load.invocations_idle_window == 0:
        return _idle(variant, load, policy, base, figures)
    rolled_back = variant.tags.get("greenrail:endpoints-rolled-back")
    if rolled_back and rolled_back == variant.model_digest:
        return none(f"a downsize of this model rolled back: not tried again until the model changes "
                    f"(tag greenrail:endpoints-rolled-back={rolled_back})")
    if load.history_days < policy.min_history_days:
        return none(f"only {load.history_days:.1f} days of history (the policy needs {policy.min_history_days:g}): no change")
    if load.peak_per_minute is None:
        return none(f"no CloudWatch Invocations data for variant {variant.variant} over {load.history_days:.1f} days: no change")
    current = _current_usd_per_hour(variant, policy)
    figures["current_usd_per_hour"] = current
    figures["price_source"] = variant.price_source
    downsize = _downsize(variant, load, current, policy, base, figures)
    if downsize.action == "downsize":
        return downsize
    scale = _autoscaling(variant, load, policy, base, figures)
    return scale or downsize


def _untouchable(variant: Variant, policy: EndpointsPolicy, mode: Mode) -> str | None:
    """Why the variant is not evaluated at all, if it is not."""
    if mode is Mode.OFF:
        return "endpoints policy is off"
    if policy.exemptions.exempts(variant.endpoint, variant.tags):
        return "exempt (tag or name pattern): not evaluated"
    if variant.problem:
        return f"{variant.variant}: {variant.problem}"
    if variant.serverless:
        return f"variant {variant.variant} is serverless: nothing to rightsize"
    if variant.endpoint_status != "InService":
        return f"endpoint is {variant.endpoint_status}, not InService: not touched (updating, rolling back or failed)"
    return None


def _current_usd_per_hour(variant: Variant, policy: EndpointsPolicy) -> float | None:
    """The variant's cost now: the override, else a recommendation of the same type (Inference
    Recommender's own price), else the price table."""
    kind = variant.instance_type or ""
    if kind in policy.price_overrides_usd_per_hour:
        return policy.price_overrides_usd_per_hour[kind] * variant.instance_count
    for rec in variant.recommendations:
        if rec.instance_type == kind and rec.cost_per_hour is not None and math.isfinite(rec.cost_per_hour) \
                and rec.instance_count:
            return rec.cost_per_hour / rec.instance_count * variant.instance_count
    if variant.price_per_instance_hour is not None:
        return variant.price_per_instance_hour * variant.instance_count
    return None


def _job_text(job: RecommendationJob, model: str | None) -> str:
    if job.status is None:
        return f"no Inference Recommender job for model {model}"
    if job.gave_up:
        return f"Inference Recommender job {job.name} still {job.status} after the policy's wait"
    if job.status != "COMPLETED":
        why = f" ({job.failure})" if job.failure else ""
        return f"no COMPLETED Inference Recommender job for model {model} (newest: {job.name} {job.status}{why})"
    return f"Inference Recommender job {job.name} has no recommendations"


def _rec_text(rec: Recommendation) -> str:
    return (f"{rec.instance_type} x{rec.instance_count} at ${rec.cost_per_hour:.3f}/h, "
            f"{rec.max_invocations:g} invocations/min, {rec.model_latency_ms:g} ms")


_CONSTRAINT_TEXT = {
    "throughput": "MaxInvocations under the peak x headroom",
    "latency": "ModelLatency over the limit",
    "instance-floor": "fewer instances than min_instance_count",
    "savings": "saves less than the minimum",
}


def _downsize(variant: Variant, load: Load, current: float | None, policy: EndpointsPolicy,
              base: dict[str, Any], figures: dict[str, Any]) -> Decision:
    def none(reason: str) -> Decision:
        return Decision(**base, action="none", compliant=True, reason=reason, figures=figures, severity="INFORMATIONAL")

    if not variant.recommendations or variant.job.status != "COMPLETED":
        return none(_job_text(variant.job, variant.model_name) + ": no change")
    if current is None:
        return none(f"no price for {variant.instance_type} (set endpoints.price_overrides_usd_per_hour): no change")
    chosen = select(variant, load, current, policy)
    figures["selection"] = chosen.model_dump(exclude={"chosen", "near_miss"})
    peak = f"peak {load.peak_per_minute:g}/min x {policy.headroom:g} = {chosen.required_invocations:g}/min"
    if chosen.chosen is None:
        if chosen.near_miss is None:
            why = (f"all {chosen.skipped_missing_metrics} recommendation(s) lack a metric (missing or NaN)"
                   if chosen.skipped_missing_metrics else "no other configuration recommended")
            return none(f"{why}: no change")
        near = chosen.near_miss.recommendation
        figures["near_miss"] = {**near.model_dump(), "failed": chosen.near_miss.failed,
                                "saving_usd_per_month": chosen.near_miss.saving_usd_per_month}
        limit = (f"{chosen.latency_limit_ms:.1f} ms ({chosen.latency_basis})" if chosen.latency_limit_ms is not None
                 else chosen.latency_basis)
        detail = {"throughput": peak, "latency": f"limit {limit}",
                  "instance-floor": f"min_instance_count {policy.min_instance_count}",
                  "savings": f"minimum ${chosen.min_saving_usd_per_month:.2f}/month"}
        assert chosen.binding is not None
        return none(f"no recommendation fits: {_CONSTRAINT_TEXT[chosen.binding]} ({detail[chosen.binding]}); "
                    f"best near-miss {_rec_text(near)} fails {', '.join(chosen.near_miss.failed)}: no change")
    rec = chosen.chosen.recommendation
    new_cost = rec.cost_per_hour or 0.0
    saved_usd = round((current - new_cost) * HOURS_PER_MONTH, 2)
    as_is = next((r for r in variant.recommendations if r.instance_type == variant.instance_type
                  and r.instance_count == variant.instance_count), None)
    util_before, util_after = _observed_cpu(as_is, load), _observed_cpu(rec, load)
    before = _monthly_carbon(variant.instance_type, variant.instance_count, variant.region, util_before)
    after = _monthly_carbon(rec.instance_type, rec.instance_count, variant.region, util_after)
    kg = round(before - after, 4) if before is not None and after is not None else 0.0
    figures.update({"chosen": rec.model_dump(), "new_usd_per_hour": new_cost,
                    "kgco2e_per_month_before": before, "kgco2e_per_month_after": after,
                    "cpu_utilization_before": util_before, "cpu_utilization_after": util_after,
                    "savings_basis": f"(${current:.3f} - ${new_cost:.3f}) per hour x {HOURS_PER_MONTH} h/month; "
                                     "kgCO2e: Cloud Carbon Footprint's model over 730 h at the CPU utilisation "
                                     "observed (Inference Recommender's CpuUtilization at MaxInvocations x the "
                                     "median invocations per minute / MaxInvocations), else at CCF's 50% average"})
    reason = (f"{variant.instance_type} x{variant.instance_count} (${current:.3f}/h) -> {_rec_text(rec)}: covers "
              f"{peak}, meets {chosen.latency_limit_ms:.1f} ms ({chosen.latency_basis}), saves ${saved_usd:.2f}/month")
    if variant.instance_count >= 2 and rec.instance_count == 1:
        figures["sagemaker_4_conflict"] = True
        reason += ("; goes from several instances to one: Security Hub control SageMaker.4 (more than one instance "
                   "per production variant) will fail (set min_instance_count: 2 to forbid)")
    return Decision(**base, action="downsize", compliant=False, severity="MEDIUM", reason=reason, figures=figures,
                    target={"variant": variant.variant, "instance_type": rec.instance_type,
                            "instance_count": rec.instance_count},
                    savings=Savings(usd_per_month=max(0.0, saved_usd), kgco2e_per_month=max(0.0, kg)))


def _autoscaling(variant: Variant, load: Load, policy: EndpointsPolicy, base: dict[str, Any],
                 figures: dict[str, Any]) -> Decision | None:
    if variant.instance_count < 2 or variant.autoscaled or not load.median_per_minute or not load.peak_per_minute:
        return None
    ratio = load.peak_per_minute / load.median_per_minute
    if ratio <= policy.autoscaling_peak_to_median:
        return None
    per_instance = None
    for rec in variant.recommendations:
        if rec.instance_type == variant.instance_type and rec.usable and rec.max_invocations:
            per_instance = rec.max_invocations / max(1, rec.instance_count)
            break
    basis = "Inference Recommender's MaxInvocations per instance"
    if per_instance is None:  # no recommendation of this type: the observed peak per instance
        per_instance = load.peak_per_minute * policy.headroom / variant.instance_count
        basis = "the observed peak x headroom per instance (no recommendation of this type)"
    target_value = max(1.0, round(per_instance * policy.autoscaling_target_fraction, 1))
    minimum = max(policy.min_instance_count, math.ceil(load.median_per_minute * policy.headroom / per_instance))
    figures["autoscaling"] = {"peak_to_median": round(ratio, 2), "basis": basis}
    return Decision(**base, action="recommend-autoscaling", compliant=False, severity="LOW",
                    reason=f"{variant.instance_count} instances around the clock for a load whose peak is "
                           f"{ratio:.1f}x its median ({load.peak_per_minute:g} vs {load.median_per_minute:g}/min) and no "
                           f"autoscaling: target tracking on SageMakerVariantInvocationsPerInstance at {target_value:g}",
                    figures=figures,
                    target={"variant": variant.variant, "min_capacity": min(minimum, variant.instance_count),
                            "max_capacity": variant.instance_count,
                            "metric": "SageMakerVariantInvocationsPerInstance", "target_value": target_value})


def _idle(variant: Variant, load: Load, policy: EndpointsPolicy, base: dict[str, Any],
          figures: dict[str, Any]) -> Decision:
    current = _current_usd_per_hour(variant, policy)
    usd = round((current or 0.0) * HOURS_PER_MONTH, 2)
    kg = _monthly_carbon(variant.instance_type, variant.instance_count, variant.region) or 0.0
    fits, why_not, memory = serverless_fit(variant)
    idle = f"no invocations over {policy.idle_days} days"
    figures["serverless_fit"] = {"fits": fits, "why_not": why_not}
    target: dict[str, Any] = {"variant": variant.variant}
    action: Action
    if fits:
        action = "recommend-serverless"
        target.update(memory_size_mb=memory, max_concurrency=5)
        reason = f"{idle}: serverless inference fits (CPU only, {memory} MB, one variant) and costs nothing idle"
    elif load.invocations_lookback > 0:
        action = "recommend-async"
        reason = (f"{idle} but some over {load.history_days:.0f} days; serverless does not fit ({why_not}): "
                  "asynchronous inference can scale to zero instances")
    else:
        action = "recommend-delete"
        reason = (f"no invocations over {load.history_days:.0f} days; serverless does not fit ({why_not}): delete the "
                  "endpoint (its config is kept, so it can be recreated)")
    return Decision(**base, action=action, compliant=False, severity="MEDIUM", reason=reason, target=target,
                    figures={**figures, "current_usd_per_hour": current}, savings=Savings(
                        usd_per_month=usd, kgco2e_per_month=round(kg, 4)))


# ---------------------------------------------------------------- loading (through the adapters)
def _series_stats(values: list[float], timestamps: list[datetime], now: datetime, idle_days: int) -> dict[str, Any]:
    if not values:
        return {"datapoints": 0}
    cutoff = now - timedelta(days=idle_days)
    idle_sum = sum(v for v, t in zip(values, timestamps, strict=False) if _aware(t) >= cutoff)
    return {"datapoints": len(values), "peak_per_minute": max(values), "median_per_minute": statistics.median(values),
            "invocations_idle_window": idle_sum, "invocations_lookback": sum(values)}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_loads(variants: list[Variant], policy: EndpointsPolicy, now: datetime) -> dict[tuple[str, str], Load]:
    """Every variant's load, in GetMetricData calls of up to 500 queries across all variants
    (two per variant: Invocations Sum per minute, ModelLatency p99 over the lookback)."""
    from greenrail.adapters.cloudwatch import MetricQuery, get_metric_series
    from greenrail.sagemaker_facts import ENDPOINT_NAMESPACE

    if not variants:
        return {}
    lookback = policy.lookback_days * 86_400
    end = datetime.fromtimestamp(math.floor(now.timestamp() / 60) * 60, UTC)
    start = end - timedelta(seconds=lookback)
    queries = []
    for n, v in enumerate(variants):
        dims = {"EndpointName": v.endpoint, "VariantName": v.variant}
        queries.append(MetricQuery(id=f"i{n}", namespace=ENDPOINT_NAMESPACE, metric="Invocations", dimensions=dims,
                                   stat="Sum"))
    per_minute = get_metric_series(queries, start, end, 60)
    latency_queries = [MetricQuery(id=f"l{n}", namespace=ENDPOINT_NAMESPACE, metric="ModelLatency",
                                   dimensions={"EndpointName": v.endpoint, "VariantName": v.variant}, stat="p99")
                       for n, v in enumerate(variants)]
    # one period over the whole lookback: one p99 of every request, not a percentile of percentiles
    latency = get_metric_series(latency_queries, start, end, lookback)
    loads = {}
    for n, v in enumerate(variants):
        series = per_minute[f"i{n}"]
        lat = [x for x in latency[f"l{n}"].values if math.isfinite(x)]
        oldest = min((_aware(t) for t in series.timestamps), default=now)
        span = max(v.age_days, (now - oldest).total_seconds() / 86_400)
        loads[(v.endpoint, v.variant)] = Load(
            history_days=round(min(policy.lookback_days, span), 2),
            p99_latency_ms=round(max(lat) / MICROSECONDS_PER_MS, 3) if lat else None,
            **_series_stats(series.values, series.timestamps, now, policy.idle_days))
    return loads


def _recommendation(raw: dict[str, Any]) -> Recommendation:
    config = raw.get("EndpointConfiguration") or {}
    metrics = raw.get("Metrics") or {}

    def number(name: str) -> float | None:
        value = metrics.get(name)
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return Recommendation(
        instance_type=config.get("InstanceType"), instance_count=int(config.get("InitialInstanceCount") or 1),
        cost_per_hour=number("CostPerHour"), max_invocations=number("MaxInvocations"),
        model_latency_ms=number("ModelLatency"), cpu_utilization=number("CpuUtilization"),
        memory_utilization=number("MemoryUtilization"), serverless=bool(config.get("ServerlessConfig")),
        recommendation_id=raw.get("RecommendationId"))


def find_recommendations(model_name: str | None) -> tuple[RecommendationJob, list[Recommendation]]:
    """The newest COMPLETED job's recommendations; FAILED, STOPPED, DELETING and DELETED jobs are ignored."""
    from greenrail.adapters import endpoints as api

    if not model_name:
        return RecommendationJob(), []
    jobs = api.recommendation_jobs(model_name=model_name)
    newest = next((j for j in jobs if j.get("Status") not in api.IGNORED_JOB_STATUSES), None)
    completed = next((j for j in jobs if j.get("Status") == "COMPLETED"), None)
    if completed is None:
        shown = newest or (jobs[0] if jobs else None)
        if shown is None:
            return RecommendationJob(), []
        return RecommendationJob(name=shown.get("JobName"), status=shown.get("Status"),
                                 failure=shown.get("FailureReason")), []
    described = api.describe_recommendation_job(str(completed["JobName"]))
    recs = [_recommendation(r) for r in described.get("InferenceRecommendations") or []]
    return RecommendationJob(name=completed.get("JobName"), status="COMPLETED"), recs


def _price(instance_type: str | None) -> tuple[float | None, str | None]:
    from greenrail.pricing import training_price

    try:
        price = training_price(instance_type or "")
    except (KeyError, ValueError):
        return None, None
    return price.usd_per_hour, f"{price.source}: the on-demand list price per instance-hour"


def load_endpoint(name: str, now: datetime, scaled: set[str] | None = None,
                  with_recommendations: bool = True, exemptions: Exemptions | None = None) -> list[Variant]:
    """Every production variant of one endpoint (without its load: :func:`read_loads`); an
    endpoint the ``exemptions`` exempt is not looked up in Inference Recommender."""
    from greenrail.adapters import endpoints as api
    from greenrail.arn import location

    endpoint = api.describe_endpoint(name)
    arn = str(endpoint["EndpointArn"])
    account, region = location(arn)
    tags = api.list_tags(arn)
    if exemptions is not None and exemptions.exempts(name, tags):
        with_recommendations = False
    status = str(endpoint.get("EndpointStatus"))
    config_name = str(endpoint.get("EndpointConfigName", ""))
    try:
        config = api.describe_endpoint_config(config_name)
    except api.EndpointGone:
        config = {"ProductionVariants": []}
    configured = {str(v.get("VariantName")): v for v in config.get("ProductionVariants", [])}
    summaries = endpoint.get("ProductionVariants") or [{"VariantName": k} for k in configured]
    models = sorted({str(v.get("ModelName")) for v in configured.values() if v.get("ModelName")})
    created = endpoint.get("CreationTime")
    age = (now - _aware(created)).total_seconds() / 86_400 if isinstance(created, datetime) else 0.0
    found: dict[str, tuple[RecommendationJob, list[Recommendation]]] = {}
    variants = []
    for summary in summaries:
        vname = str(summary.get("VariantName"))
        spec = configured.get(vname, {})
        model = spec.get("ModelName")
        if with_recommendations and model not in found:
            found[str(model)] = find_recommendations(model)
        job, recs = found.get(str(model), (RecommendationJob(), []))
        serverless = bool(spec.get("ServerlessConfig") or summary.get("CurrentServerlessConfig"))
        price, source = _price(spec.get("InstanceType"))
        variants.append(Variant(
            endpoint=name, endpoint_arn=arn, account=account or "", region=region or "", endpoint_status=status,
            config_name=config_name, variant=vname, model_name=model, instance_type=spec.get("InstanceType"),
            instance_count=int(summary.get("CurrentInstanceCount") or spec.get("InitialInstanceCount") or 1),
            accelerator=spec.get("AcceleratorType"), serverless=serverless, variants_on_endpoint=len(summaries),
            data_capture=bool((config.get("DataCaptureConfig") or {}).get("EnableCapture", bool(
                config.get("DataCaptureConfig")))),
            vpc=bool(config.get("VpcConfig")),
            autoscaled=f"endpoint/{name}/variant/{vname}" in (scaled or set()), age_days=round(age, 3), tags=tags,
            model_digest=model_digest(models), job=job, recommendations=recs, price_per_instance_hour=price,
            price_source=source,
            problem=None if spec or serverless else "not in the endpoint's config"))
    return variants


def assess(names: list[str], policy: EndpointsPolicy, mode: Mode, now: datetime,
           event_id: str | None = None) -> list[tuple[Variant, Decision]]:
    """Load the endpoints (their accounts: the caller's ``acting_in``), read every variant's load
    in batches, and decide each variant."""
    from greenrail.adapters import endpoints as api
    from greenrail.aws import error_code, is_permanent

    variants: list[Variant] = []
    for name in names:
        try:
            variants.extend(load_endpoint(name, now, exemptions=policy.exemptions))
        except api.EndpointGone:
            continue  # deleted since it was listed
        except Exception as exc:
            if not is_permanent(exc):
                raise
            variants.append(unreadable(name, error_code(exc)))
    variants = mark_autoscaled(variants)
    readable = [v for v in variants if not v.problem and v.endpoint_status == "InService" and not v.serverless]
    loads = read_loads(readable, policy, now)
    found = []
    for variant in variants:
        variant = variant.model_copy(update={"load": loads.get((variant.endpoint, variant.variant))})
        found.append((variant, decide(variant, policy, mode, now, event_id)))
    return found


def mark_autoscaled(variants: list[Variant]) -> list[Variant]:
    """Which variants have an Application Auto Scaling target: asked (one paged call for the
    whole account) only when a variant runs several instances, the only ones the rule concerns."""
    from greenrail.adapters import endpoints as api

    if not any(v.instance_count >= 2 and not v.serverless for v in variants):
        return variants
    scaled = api.scaled_variants()
    return [v.model_copy(update={"autoscaled": f"endpoint/{v.endpoint}/variant/{v.variant}" in scaled})
            for v in variants]


def unreadable(name: str, code: str) -> Variant:
    from greenrail.aws import account_id, region

    return Variant(endpoint=name, endpoint_arn=f"arn:aws:sagemaker:{region()}:{account_id()}:endpoint/{name.lower()}",
                   account=account_id(), region=region(), endpoint_status="Unknown", config_name="", variant="*",
                   problem=f"could not be read ({code})")


# ---------------------------------------------------------------- applying
def new_config_name(variant: Variant, instance_type: str, count: int) -> str:
    """The new config's name (1-63 characters): deterministic, so a retried create finds its own."""
    digest = hashlib.sha256(f"{variant.config_name}:{variant.variant}:{instance_type}:{count}".encode()).hexdigest()[:10]
    return f"{variant.config_name[: 63 - len(CONFIG_SUFFIX) - 10]}{CONFIG_SUFFIX}{digest}"


def alarm_names(variant: Variant) -> tuple[str, str]:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{variant.endpoint}-{variant.variant}")[:200]
    return f"{ALARM_PREFIX}{safe}-latency", f"{ALARM_PREFIX}{safe}-5xx"


def deployment_config(policy: EndpointsPolicy, alarms: tuple[str, ...], new_count: int = 2) -> dict[str, Any]:
    """UpdateEndpoint's DeploymentConfig: blue/green with the policy's traffic routing and bake
    time, rolled back automatically when one of the alarms goes to ALARM. A new fleet of one
    instance cannot take a canary or a linear step (at most 50% of the fleet): it shifts all at
    once, then bakes the same time."""
    routing = policy.traffic_routing
    kind = routing.type if new_count >= 2 else "all-at-once"
    traffic: dict[str, Any] = {"Type": {"canary": "CANARY", "linear": "LINEAR", "all-at-once": "ALL_AT_ONCE"}[kind],
                               "WaitIntervalInSeconds": routing.bake_minutes * 60}
    if kind == "canary":
        traffic["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": routing.canary_percent}
    elif kind == "linear":
        traffic["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": routing.linear_step_percent}
    return {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": traffic,
                                  "TerminationWaitInSeconds": routing.termination_wait_minutes * 60,
                                  "MaximumExecutionTimeoutInSeconds": routing.max_deployment_minutes * 60},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
    }


def apply(decision: Decision, variant: Variant, policy: EndpointsPolicy, blast_radius: Any) -> Decision:
    """Start the guarded deployment of a downsize (enforce mode), or delete an idle endpoint with
    the opt-in; nothing else is ever applied. The deployment's end is followed by the workflow."""
    from greenrail.adapters import endpoints as api
    from greenrail.aws import error_code, is_permanent

    if decision.mode is not Mode.ENFORCE or decision.applied:
        return decision
    if decision.action == "recommend-delete":
        return _delete(decision, variant, policy, blast_radius)
    if decision.action != "downsize":
        return decision
    # afresh: someone may have updated (or deleted) the endpoint since it was read
    try:
        now = api.describe_endpoint(variant.endpoint)
    except api.EndpointGone:
        return _not_applied(decision, "EndpointDeleted", "the endpoint was deleted meanwhile")
    if now.get("EndpointStatus") != "InService" or now.get("EndpointConfigName") != variant.config_name:
        return _not_applied(decision, "EndpointChanged", f"the endpoint changed meanwhile (now {now.get('EndpointStatus')}, "
                                                         f"config {now.get('EndpointConfigName')}): not touched")
    target = decision.target
    name = new_config_name(variant, str(target["instance_type"]), int(target["instance_count"]))
    if not blast_radius.acquire(f"{decision.resource}#deploy/{name}"):
        return decision.model_copy(update={"held_back": True, "reason": decision.reason + f"; not applied: blast radius "
                                           f"of {policy.blast_radius.max_actions_per_hour} per hour reached"})
    tags = {api.GREENRAIL_TAG: POLICY, "greenrail:replaces": variant.config_name}
    latency_alarm, errors_alarm = alarm_names(variant)
    limit = policy.max_latency_alarm_ms or (decision.figures.get("selection") or {}).get("latency_limit_ms")
    try:
        current = api.describe_endpoint_config(variant.config_name)
        try:
            api.create_endpoint_config(name, api.resized_config(current, variant.variant, str(target["instance_type"]),
                                                                int(target["instance_count"])), tags)
        except api.ConfigExists:
            pass  # created by an earlier attempt of this very decision
        api.put_variant_alarm(latency_alarm, f"Greenrail: p99 ModelLatency of {variant.endpoint}/{variant.variant} "
                              "(rolls back its downsize)", variant.endpoint, variant.variant, "ModelLatency", "p99",
                              float(limit or 1000.0) * MICROSECONDS_PER_MS, tags)
        api.put_variant_alarm(errors_alarm, f"Greenrail: 5XX errors of {variant.endpoint}/{variant.variant} "
                              "(rolls back its downsize)", variant.endpoint, variant.variant, "Invocation5XXErrors",
                              "Sum", policy.max_5xx_errors_per_minute, tags)
        deployment = deployment_config(policy, (latency_alarm, errors_alarm), int(target["instance_count"]))
        api.update_endpoint(variant.endpoint, name, deployment)
    except api.EndpointGone:
        return _not_applied(decision, "EndpointDeleted", "the endpoint was deleted meanwhile")
    except api.UpdateRefused as refused:
        return _not_applied(decision, refused.code, f"UpdateEndpoint refused it ({refused.code}: {refused.message[:200]})")
    except Exception as exc:
        if not is_permanent(exc):
            raise
        return _not_applied(decision, error_code(exc), f"not applied: {error_code(exc)}")
    figures = {**decision.figures, "new_endpoint_config": name, "alarms": [latency_alarm, errors_alarm],
               "deployment": "started", "previous_endpoint_config": variant.config_name,
               "traffic_routing": deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]}
    return decision.model_copy(update={"applied": True, "figures": figures,
                                       "reason": decision.reason + f"; blue/green deployment of {name} started"})


def _not_applied(decision: Decision, code: str, why: str) -> Decision:
    return decision.model_copy(update={"applied": False, "error": code, "reason": f"{decision.reason}; {why}"})


def _delete(decision: Decision, variant: Variant, policy: EndpointsPolicy, blast_radius: Any) -> Decision:
    from greenrail.adapters import endpoints as api

    if not policy.allow_delete:
        return decision
    if variant.variants_on_endpoint > 1:
        return _not_applied(decision, "SeveralVariants", "not deleted: the endpoint has other variants")
    if not blast_radius.acquire(f"{decision.resource}#delete"):
        return decision.model_copy(update={"held_back": True, "reason": decision.reason + "; not deleted: blast radius reached"})
    try:
        api.delete_endpoint(variant.endpoint)
    except api.EndpointGone:
        return decision.model_copy(update={"applied": True, "already_applied": True, "compliant": True})
    return decision.model_copy(update={"applied": True, "compliant": True, "reason": decision.reason +
                                       f"; deleted (endpoint config {variant.config_name} kept)"})


# ---------------------------------------------------------------- following a deployment
class DeploymentOutcome(_Snapshot):
    state: Literal["in-progress", "succeeded", "rolled-back", "gone", "changed", "failed"]
    detail: str = ""


def deployment_outcome(endpoint: dict[str, Any] | None, new_config: str, previous_config: str) -> DeploymentOutcome:
    """Where a deployment we started stands, from DescribeEndpoint (None: the endpoint is gone)."""
    if endpoint is None:
        return DeploymentOutcome(state="gone", detail="the endpoint was deleted during its deployment")
    status = str(endpoint.get("EndpointStatus"))
    config = str(endpoint.get("EndpointConfigName"))
    failure = str(endpoint.get("FailureReason") or "")
    if status in ("Updating", "RollingBack", "SystemUpdating", "Creating"):
        return DeploymentOutcome(state="in-progress", detail=status)
    if status == "InService" and config == new_config and not endpoint.get("PendingDeploymentSummary"):
        return DeploymentOutcome(state="succeeded", detail="baked and InService on the new config")
    if status == "InService" and config == previous_config:
        return DeploymentOutcome(state="rolled-back", detail=failure or "rolled back to the previous config")
    if status == "InService":
        return DeploymentOutcome(state="changed", detail=f"someone else deployed {config} meanwhile")
    return DeploymentOutcome(state="failed", detail=f"{status}: {failure}".rstrip(": "))


def settle_deployment(decision: Decision, outcome: DeploymentOutcome) -> Decision:
    """The decision once its deployment ended: applied (baked), or not (rolled back: a decision of its own)."""
    detail = outcome.detail
    if outcome.state == "succeeded":
        return decision.model_copy(update={"applied": True, "compliant": True, "figures": {
            **decision.figures, "deployment": "succeeded"}, "reason": decision.reason + f"; {detail}"})
    code = {"rolled-back": "RolledBack", "gone": "EndpointDeleted", "changed": "EndpointChanged",
            "failed": "DeploymentFailed", "in-progress": "DeploymentTimedOut"}[outcome.state]
    why = {"rolled-back": f"rolled back: {detail}; not tried again until the model changes",
           "in-progress": f"the deployment did not end within the workflow's wait ({detail})"}.get(outcome.state, detail)
    return decision.model_copy(update={"applied": False, "compliant": False, "error": code, "severity": "HIGH"
                                       if outcome.state == "rolled-back" else decision.severity,
                                       "figures": {**decision.figures, "deployment": outcome.state},
                                       "reason": decision.reason.split("; blue/green deployment")[0] + f"; {why}"})


# ---------------------------------------------------------------- scan
def scan(policy: EndpointsPolicy, mode: Mode | None = None, now: datetime | None = None) -> list[Decision]:
    """Every production variant of every endpoint now (``greenrail scan --policies endpoints``):
    one decision per variant; in enforce mode downsizes start their guarded deployment (not
    followed: the workflow does that), within the blast radius counted in this process."""
    from greenrail.adapters import endpoints as api
    from greenrail.state import BlastRadius

    mode, now = mode or policy.mode, now or datetime.now(UTC)
    names = [str(e["EndpointName"]) for e in api.list_endpoints()]
    blast = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour, table="")
    return [apply(decision, variant, policy, blast) for variant, decision in assess(names, policy, mode, now)]


def _uses() -> tuple[Any, ...]:
    """The rightsizing workflow's Task function: evaluate, wait for a job, deploy, follow."""
    from greenrail import bus, document, state
    from greenrail.adapters import cloudwatch
    from greenrail.adapters import endpoints as api

    return (document.read_parameter, api.describe_endpoint, api.describe_endpoint_config, api.list_tags,
            api.tag_endpoint, api.create_endpoint_config, api.update_endpoint, api.delete_endpoint,
            api.recommendation_jobs, api.describe_recommendation_job, api.start_recommendation_job,
            api.put_variant_alarm, api.scaled_variants, cloudwatch.get_metric_series, state.run_once,
            state.BlastRadius.acquire, bus.publish, api.remember_waiter)


def _starter_uses() -> tuple[Any, ...]:
    """The event function and weekly sweep: list endpoints, read every variant's load in batches,
    start one workflow per endpoint; resume the workflow waiting for a deployment's event (its
    Task token, from the state table)."""
    from greenrail import document
    from greenrail.adapters import cloudwatch, stepfunctions
    from greenrail.adapters import endpoints as api

    return (document.read_parameter, api.list_endpoints, api.describe_endpoint, stepfunctions.start_execution,
            api.claim_waiter, stepfunctions.send_task_success, cloudwatch.get_metric_series)


DEFINITION = PolicyDefinition(
    name=POLICY,
    summary="downsize real-time endpoints from Inference Recommender with a guarded blue/green deployment; flag idle ones",
    config=EndpointsPolicy,
    decide=decide,
    apply=apply,
    scan=scan,
    triggers=(
        # the starter reads only Greenrail's own account (the sweep); events name their account
        Trigger("EndpointEventFunction", _starter_uses, rules=(
            Rule("EndpointInService", ("sagemaker-endpoint-in-service.json",),
                 ("nearmiss/sagemaker-endpoint-updating.json", "sagemaker-training-job-completed.json",
                  "sagemaker-endpoint-deployment-baking.json")),
            # a deployment Greenrail started: resume the workflow that follows it (baking, rollback, end)
            Rule("EndpointDeployment", ("sagemaker-endpoint-deployment-baking.json",
                                        "sagemaker-endpoint-deployment-rolling-back.json"),
                 ("sagemaker-endpoint-in-service.json", "nearmiss/cloudtrail-sagemaker-update-endpoint.json")),
        )),
        Trigger("EndpointRightsizingFunction", _uses, member=True),
        Trigger("EndpointRightsizingStateMachine", definition="endpoint_rightsizing.asl.json"),
    ),
)
