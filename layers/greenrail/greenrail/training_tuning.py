"""The training policy on hyperparameter tuning jobs.

Part of the ``training`` policy (``greenrail.policies.training`` calls it; it imports nothing of
the policy module, whose configuration it reads duck-typed). The ``SageMaker HyperParameter
Tuning Job State Change`` event carries no ``Strategy``: the job is described
(DescribeHyperParameterTuningJob) and its training jobs listed
(ListTrainingJobsForHyperParameterTuningJob, pages of 100, at most
``sagemaker.MAX_CHILD_PAGES`` pages: beyond that the cost is flagged a lower bound).

* **stop** (runaway) — the summed cost of its training jobs so far (each: instance count x hourly
  price x its elapsed time) is over the budget, or will be by the next check at the running
  jobs' current rate. Budget: the ``greenrail:budget-usd`` tag (``runaway.budget_tag_key``), else
  ``tuning.default_budget_usd``, else none. Enforce mode: StopHyperParameterTuningJob.
* **recommend-bayesian** — ``Strategy`` Random or Grid with more training jobs than
  ``tuning.max_random_jobs`` (Grid: the product of its categorical ranges when
  ``MaxNumberOfTrainingJobs`` is absent). The target is Hyperband when the job already uses early
  stopping (its objective is reported during training), else Bayesian. Savings:
  ``tuning.bayesian_savings_ratio`` of the remaining jobs at the mean cost of a finished one
  (before any finished: a job's ``MaxRuntimeInSeconds``, an upper bound), flagged estimated.
* **recommend-early-stopping** — ``TrainingJobEarlyStoppingType`` Off and not Hyperband.
* **recommend-completion-criteria** — no ``TuningJobCompletionCriteria``.

One decision per tuning job: ``stop`` first, else the first recommendation; all of them are in
``figures.recommendations``.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from greenrail import arn as arns
from greenrail.adapters import sagemaker
from greenrail.aws import ACCESS_DENIED_CODES, account_id, error_code
from greenrail.aws import region as own_region
from greenrail.config import OWNER_TAG_KEY
from greenrail.decision import Decision, Mode, Savings
from greenrail.pricing import InstancePrice, UnknownInstanceType, training_price
from greenrail.sagemaker_facts import DEFAULT_MAX_RUNTIME_SECONDS

logger = logging.getLogger(__name__)
POLICY: Final = "training"
UNREADABLE = "Unreadable"  # as greenrail.policies.UNREADABLE: a job Greenrail may not describe
RUNAWAY_FINDING = "RunawayTuningJob"
SEARCH_STRATEGIES = frozenset({"Random", "Grid"})


class Definition(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    instance_type: str = "unknown"
    instance_count: int = Field(default=1, ge=1)
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS


class Child(BaseModel):
    """One training job the tuning job launched (a ListTrainingJobsForHyperParameterTuningJob summary)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str
    status: str
    definition: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    @classmethod
    def from_api(cls, summary: dict[str, Any]) -> Child:
        start = summary.get("TrainingStartTime") or summary.get("CreationTime")
        end = summary.get("TrainingEndTime")
        return cls(name=summary["TrainingJobName"], status=summary.get("TrainingJobStatus", "Unknown"),
                   definition=summary.get("TrainingJobDefinitionName"),
                   start_time=start if isinstance(start, datetime) else None,
                   end_time=end if isinstance(end, datetime) else None)

    def hours(self, now: datetime) -> float:
        if self.start_time is None:
            return 0.0
        end = self.end_time if self.status != "InProgress" and self.end_time else now
        return max(0.0, (_utc(end) - _utc(self.start_time)).total_seconds() / 3600)


class TuningSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str
    arn: str
    status: str
    strategy: str = "Bayesian"
    max_jobs: int | None = None  # MaxNumberOfTrainingJobs (Grid: its grid size when absent)
    early_stopping: str = "Off"
    completion_criteria: bool = False
    definitions: dict[str, Definition] = Field(default_factory=dict)  # "" for the single definition
    launched: int = 0  # TrainingJobStatusCounters summed
    tags: dict[str, str] = Field(default_factory=dict)
    account: str = ""
    region: str = ""

    @classmethod
    def from_api(cls, job: dict[str, Any], account: str, region: str,
                 tags: dict[str, str] | None = None) -> TuningSnapshot:
        """From DescribeHyperParameterTuningJob or a Search ``HyperParameterTuningJob`` record."""
        config = job.get("HyperParameterTuningJobConfig") or {}
        limits = config.get("ResourceLimits") or {}
        max_jobs = limits.get("MaxNumberOfTrainingJobs")
        if max_jobs is None and config.get("Strategy") == "Grid":
            ranges = (config.get("ParameterRanges") or {}).get("CategoricalParameterRanges") or []
            max_jobs = math.prod(len(r.get("Values") or []) for r in ranges) if ranges else None
        definitions = {}
        for index, definition in enumerate([job["TrainingJobDefinition"]] if job.get("TrainingJobDefinition")
                                           else job.get("TrainingJobDefinitions") or []):
            resources = definition.get("ResourceConfig") or definition.get("HyperParameterTuningResourceConfig") or {}
            if not resources.get("InstanceType") and resources.get("InstanceConfigs"):
                resources = resources["InstanceConfigs"][0]
            key = definition.get("DefinitionName") or ("" if index == 0 else str(index))
            definitions[key] = Definition(
                instance_type=resources.get("InstanceType", "unknown"),
                instance_count=max(1, int(resources.get("InstanceCount", 1))),
                max_runtime_seconds=int((definition.get("StoppingCondition") or {}).get(
                    "MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)))
        if tags is None:
            raw = job.get("Tags") or []
            tags = {t["Key"]: t["Value"] for t in raw} if isinstance(raw, list) else dict(raw)
        counters = job.get("TrainingJobStatusCounters") or {}
        return cls(
            name=job["HyperParameterTuningJobName"], arn=job["HyperParameterTuningJobArn"],
            status=job["HyperParameterTuningJobStatus"], strategy=config.get("Strategy", "Bayesian"),
            max_jobs=int(max_jobs) if max_jobs else None,
            early_stopping=config.get("TrainingJobEarlyStoppingType", "Off"),
            completion_criteria=bool(config.get("TuningJobCompletionCriteria")),
            definitions=definitions, launched=sum(int(v or 0) for v in counters.values()),
            tags=tags, account=account, region=region,
        )

    def definition(self, child: Child | None = None) -> Definition:
        if child is not None and child.definition in self.definitions:
            return self.definitions[child.definition]
        return next(iter(self.definitions.values()), Definition())


def _price(instance_type: str, policy: Any) -> InstancePrice | None:
    try:
        return training_price(instance_type, policy.price_overrides_usd_per_hour)
    except UnknownInstanceType:
        return None


def job_location(arn: str | None) -> tuple[str, str]:
    """(account, region) of the job: from its ARN, else where Greenrail runs."""
    account, job_region = arns.location(arn)
    return account or account_id(), job_region or own_region()


def tag_budget(tags: dict[str, str], key: str) -> float | None:
    """The budget tag's value when it is a positive finite number (training and tuning jobs alike)."""
    raw = tags.get(key)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def tuning_budget(job: TuningSnapshot, policy: Any) -> tuple[float | None, str | None]:
    tagged = tag_budget(job.tags, policy.runaway.budget_tag_key)
    if tagged is not None:
        return tagged, f"tag {policy.runaway.budget_tag_key}"
    if policy.tuning.default_budget_usd is not None:
        return policy.tuning.default_budget_usd, "policy tuning.default_budget_usd"
    return None, None


def assess_cost(job: TuningSnapshot, children: list[Child], truncated: bool, policy: Any,
                now: datetime) -> dict[str, Any]:
    """Cost so far, current rate, cost by the next check, and the mean cost of a finished job."""
    so_far = rate = 0.0
    finished: list[float] = []
    unpriced: set[str] = set()
    for child in children:
        definition = job.definition(child)
        price = _price(definition.instance_type, policy)
        if price is None:
            unpriced.add(definition.instance_type)
            continue
        hourly = price.usd_per_hour * definition.instance_count
        cost = hourly * child.hours(now)
        so_far += cost
        if child.status == "InProgress":
            rate += hourly
        elif child.status == "Completed":
            finished.append(cost)
    first = job.definition()
    first_price = _price(first.instance_type, policy)
    per_job = sum(finished) / len(finished) if finished else (
        first_price.usd_per_hour * first.instance_count * first.max_runtime_seconds / 3600 if first_price else None)
    budget, source = tuning_budget(job, policy)
    figures: dict[str, Any] = {
        "children_read": len(children), "children_truncated": truncated,
        "cost_so_far_usd": round(so_far, 4), "rate_usd_per_hour": round(rate, 4),
        "cost_at_next_check_usd": round(so_far + rate * policy.check_interval_minutes / 60, 4),
        "cost_per_job_usd": None if per_job is None else round(per_job, 4),
        "cost_per_job_basis": "mean of the completed jobs" if finished else "upper bound: MaxRuntimeInSeconds",
        "budget_usd": budget, "budget_source": source,
    }
    if truncated:
        figures["cost_note"] = f"more than {len(children)} training jobs: the cost so far is a lower bound"
    if unpriced:
        figures["price_error"] = f"no price for {', '.join(sorted(unpriced))}: their cost not counted"
    return figures


def _remaining(job: TuningSnapshot, children: list[Child]) -> int:
    launched = max(job.launched, len(children))
    return max(0, (job.max_jobs or launched) - launched)


def decide(job: TuningSnapshot, children: list[Child], truncated: bool, policy: Any,
           now: datetime, mode: Mode | None = None) -> Decision:
    """The policy's decision about one tuning job (nothing is done here)."""
    mode = mode or policy.mode
    figures: dict[str, Any] = {
        "job_name": job.name, "status": job.status, "strategy": job.strategy, "max_training_jobs": job.max_jobs,
        "launched_training_jobs": max(job.launched, len(children)),
        "early_stopping": job.early_stopping, "completion_criteria": job.completion_criteria,
    }
    if mode is Mode.OFF:
        return _decision(job, mode, reason="training policy is off", figures=figures)
    if job.status != "InProgress":
        return _decision(job, mode, reason=f"tuning job is {job.status}: nothing to do", figures=figures)
    if policy.exemptions.exempts(job.name, job.tags):
        return _decision(job, mode, reason="exempt (tag or name pattern): not evaluated",
                         figures={**figures, "exempt": True})
    cost = assess_cost(job, children, truncated, policy, now)
    figures.update(cost)
    remaining = _remaining(job, children)
    per_job = cost["cost_per_job_usd"] or 0.0
    figures["remaining_training_jobs"] = remaining
    found: list[tuple[str, str, float]] = []  # (action, reason, usd)
    budget = cost["budget_usd"]
    if budget is not None:
        if cost["cost_so_far_usd"] > budget:
            found.append(("stop", f"{RUNAWAY_FINDING}: its training jobs cost ${cost['cost_so_far_usd']:.2f} so far, "
                                  f"over the ${budget:.2f} budget ({cost['budget_source']})", remaining * per_job))
        elif cost["cost_at_next_check_usd"] > budget:
            found.append(("stop", f"{RUNAWAY_FINDING}: at ${cost['rate_usd_per_hour']:.2f}/h its training jobs "
                                  f"reach ${cost['cost_at_next_check_usd']:.2f} by the next check, over the "
                                  f"${budget:.2f} budget ({cost['budget_source']})", remaining * per_job))
    if job.strategy in SEARCH_STRATEGIES and job.max_jobs is not None and job.max_jobs > policy.tuning.max_random_jobs:
        target = "Hyperband" if job.early_stopping == "Auto" else "Bayesian"
        figures["suggested_strategy"] = target
        usd = policy.tuning.bayesian_savings_ratio * remaining * per_job
        found.append(("recommend-bayesian",
                      f"ExhaustiveTuning: {job.strategy} search over {job.max_jobs} training jobs (more than "
                      f"{policy.tuning.max_random_jobs}): {target} search needs far fewer; assumed "
                      f"{policy.tuning.bayesian_savings_ratio:.0%} of the {remaining} remaining jobs saved (estimated)", usd))
    if job.early_stopping != "Auto" and job.strategy != "Hyperband":
        found.append(("recommend-early-stopping",
                      "NoEarlyStopping: TrainingJobEarlyStoppingType is Off: jobs that will not beat the best run to the end",
                      0.0))
    if not job.completion_criteria:
        found.append(("recommend-completion-criteria",
                      "NoCompletionCriteria: no TuningJobCompletionCriteria: the search runs every job even once it converges",
                      0.0))
    if not found:
        return _decision(job, mode, reason="compliant: adaptive search, early stopping, completion criteria, "
                                           "within budget", figures=figures)
    action, _, usd = found[0]
    figures["recommendations"] = [a for a, _, _ in found if a != "stop"]
    figures["savings_estimated"] = True
    figures["savings_basis"] = (
        "one-off, estimated: the remaining training jobs at the mean cost of a finished one"
        + (f", x {policy.tuning.bayesian_savings_ratio:g} (tuning.bayesian_savings_ratio)"
           if action == "recommend-bayesian" else "")
    )
    return _decision(job, mode, action=action, reason="; ".join(r for _, r, _ in found), figures=figures,
                     savings=Savings(usd_per_month=round(usd, 2)),
                     severity="HIGH" if action == "stop" else "LOW",
                     target={"Strategy": figures["suggested_strategy"]} if action == "recommend-bayesian" else {})


def _decision(job: TuningSnapshot, mode: Mode, **fields: Any) -> Decision:
    action = fields.pop("action", "none")
    return Decision(policy=POLICY, resource=job.arn, account=job.account, region=job.region,
                    action=action, mode=mode, compliant=action == "none", status=job.status,
                    owner=job.tags.get(OWNER_TAG_KEY), **fields)


def evaluate(job_name: str, policy: Any, now: datetime | None = None,
             mode: Mode | None = None, job_arn: str | None = None) -> Decision:
    """DescribeHyperParameterTuningJob, ListTags, ListTrainingJobsForHyperParameterTuningJob, decide."""
    now = now or datetime.now(UTC)
    mode = mode or policy.mode
    account, region = job_location(job_arn)
    try:
        described = sagemaker.describe_tuning_job(job_name)
    except sagemaker.TrainingJobNotFound:
        return _gone(job_name, mode, "TuningJobNotFound: the tuning job no longer exists", job_arn)
    except Exception as exc:
        code = error_code(exc)
        if code not in ACCESS_DENIED_CODES:
            raise
        logger.warning("DescribeHyperParameterTuningJob %s denied: %s", job_name, exc)
        return _gone(job_name, mode, f"DescribeHyperParameterTuningJob failed: {code}; the job cannot be evaluated",
                     job_arn, status=UNREADABLE, error=code)
    running = described["HyperParameterTuningJobStatus"] == "InProgress"
    account, region = job_location(described["HyperParameterTuningJobArn"])
    tags = sagemaker.list_tags(described["HyperParameterTuningJobArn"]) if running else {}
    job = TuningSnapshot.from_api(described, account, region, tags)
    children, truncated = _children(job, policy, mode)
    return decide(job, children, truncated, policy, now, mode)


def _children(job: TuningSnapshot, policy: Any, mode: Mode | None) -> tuple[list[Child], bool]:
    if job.status != "InProgress" or (mode or policy.mode) is Mode.OFF or policy.exemptions.exempts(job.name, job.tags):
        return [], False
    summaries, truncated = sagemaker.tuning_job_children(job.name)
    return [Child.from_api(s) for s in summaries], truncated


def _gone(job_name: str, mode: Mode, reason: str, arn: str | None, status: str = "NotFound",
          error: str | None = None) -> Decision:
    account, region = job_location(arn)
    return Decision(
        policy=POLICY,
        resource=arn or f"arn:aws:sagemaker:{region}:{account}:hyper-parameter-tuning-job/{job_name}",
        account=account, region=region, action="none", mode=mode, compliant=error is None, reason=reason,
        figures={"job_name": job_name, "status": status, **({"error": error} if error else {})},
        status=status, error=error,
    )


def scan(policy: Any, mode: Mode | None, now: datetime) -> list[Decision]:
    """Every InProgress tuning job (Search, tags inline), its training jobs listed (paged, bounded);
    decided, not applied (``training.scan`` applies)."""
    decisions = []
    for record in sagemaker.search_in_progress_tuning_jobs():
        job = TuningSnapshot.from_api(record, *job_location(record.get("HyperParameterTuningJobArn")))
        children, truncated = _children(job, policy, mode)
        decisions.append(decide(job, children, truncated, policy, now, mode))
    return decisions


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
