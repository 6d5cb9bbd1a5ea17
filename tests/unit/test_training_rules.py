"""The training policy's rule on typed inputs: idle, runaway, exemptions, figures, savings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from greenrail.arn import location as arn_location
from greenrail.decision import Mode
from greenrail.policies.training import (
    HostUtilization,
    IdleRule,
    RunawayRule,
    TrainingJobSnapshot,
    TrainingPolicy,
    decide,
    job_budget,
    utilization_basis,
)
from greenrail.pricing import training_price

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/"
POLICY = TrainingPolicy(
    mode=Mode.ENFORCE,
    idle=IdleRule(gpu_threshold_percent=5, cpu_threshold_percent=5, window_minutes=60, warmup_minutes=30),
)


def job(
    name: str = "job",
    instance_type: str = "ml.g5.xlarge",
    count: int = 1,
    elapsed_h: float = 2.0,
    **kw: object,
) -> TrainingJobSnapshot:
    fields: dict = {
        "name": name,
        "arn": ARN + name,
        "status": "InProgress",
        "instance_type": instance_type,
        "instance_count": count,
        "start_time": NOW - timedelta(hours=elapsed_h),
        "elapsed_seconds": elapsed_h * 3600,
        "account": "123456789012",
        "region": "us-east-1",
    }
    fields.update(kw)
    return TrainingJobSnapshot(**fields)


def series(
    host: str, raw: float, metric: str = "GPUUtilization", minutes: int = 60, period: int = 300
) -> HostUtilization:
    stamps = [NOW - timedelta(seconds=s) for s in range(0, minutes * 60, period)]
    return HostUtilization(host=host, metric=metric, timestamps=stamps, values=[raw] * len(stamps))  # type: ignore[arg-type]


def run(j: TrainingJobSnapshot, hosts: list[HostUtilization], policy: TrainingPolicy = POLICY):
    return decide(j, hosts, policy, NOW, training_price(j.instance_type, policy.price_overrides_usd_per_hour))


def test_idle_gpu_job_is_stopped_with_figures_and_savings() -> None:
    d = run(job(), [series("job/algo-1", 1.0)])
    assert d.action == "stop" and not d.compliant and d.severity == "MEDIUM"
    assert d.policy == "training" and d.resource == ARN + "job" and d.target == {}
    assert "IdleTrainingJob" in d.reason
    assert d.figures["idle"]["hosts"]["job/algo-1"]["max_percent"] == 1.0
    assert d.figures["elapsed_hours"] == 2.0
    assert d.figures["cost_so_far_usd"] == pytest.approx(2 * 1.408)
    # Remaining projected runtime: default MaxRuntime 24 h - 2 h elapsed.
    assert d.figures["remaining_hours"] == pytest.approx(22)
    assert d.savings.usd_per_month == pytest.approx(22 * 1.408, abs=0.01)
    assert "one-off" in d.figures["savings_basis"]


def test_warmup_boundary() -> None:
    # warm-up 30 min + window 60 min: at 89 min not judged yet, at 90 min judged.
    early = run(job(elapsed_h=89 / 60), [series("job/algo-1", 0.0)])
    assert early.action == "none" and early.figures["idle"]["state"] == "warming-up"
    on_time = run(job(elapsed_h=90 / 60), [series("job/algo-1", 0.0)])
    assert on_time.action == "stop"


def test_exactly_at_threshold_is_not_idle() -> None:
    d = run(job(), [series("job/algo-1", 5.0)])
    assert d.action == "none" and d.figures["idle"]["state"] == "busy"
    assert run(job(), [series("job/algo-1", 4.99)]).action == "stop"


def test_one_busy_host_among_idle_ones_keeps_the_job() -> None:
    hosts = [series("job/algo-1", 0.5), series("job/algo-2", 80.0), series("job/algo-3", 0.5)]
    d = run(job(count=3), hosts)
    assert d.action == "none" and d.figures["idle"]["hosts"]["job/algo-2"]["state"] == "busy"


def test_a_single_burst_counts_as_work() -> None:
    burst = series("job/algo-1", 0.0)
    burst.values[3] = 60.0
    assert run(job(), [burst]).action == "none"


def test_missing_metrics_are_insufficient_data_never_idle() -> None:
    assert run(job(), []).figures["idle"]["state"] == "insufficient-data"
    assert run(job(), []).action == "none"
    # One host reports, the other does not.
    d = run(job(count=2), [series("job/algo-1", 0.0)])
    assert d.action == "none" and "insufficient data" in d.reason
    assert d.figures["idle"]["hosts"]["job/algo-2"]["datapoints"] == 0
    # Too few datapoints (15 of 60 minutes) is not a whole window.
    assert run(job(), [series("job/algo-1", 0.0, minutes=15)]).action == "none"


def test_gpu_normalised_by_gpu_count() -> None:
    # ml.g5.12xlarge has 4 GPUs: a raw 16 (sum over GPUs) is 4 % per GPU -> idle under 5 %.
    assert utilization_basis("ml.g5.12xlarge").devices == 4  # type: ignore[union-attr]
    assert run(job(instance_type="ml.g5.12xlarge"), [series("job/algo-1", 16.0)]).action == "stop"
    # On a one-GPU type the same raw 16 is 16 %: busy.
    assert run(job(), [series("job/algo-1", 16.0)]).action == "none"


def test_cpu_normalised_by_vcpu_count() -> None:
    basis = utilization_basis("ml.m5.4xlarge")
    assert basis is not None and basis.metric == "CPUUtilization" and basis.devices == 16
    # 16 vCPUs: raw 64 (sum over cores) is 4 % -> idle; raw 96 is 6 % -> busy.
    idle = run(job(instance_type="ml.m5.4xlarge"), [series("job/algo-1", 64.0, metric="CPUUtilization")])
    assert idle.action == "stop" and idle.figures["idle"]["metric"] == "CPUUtilization"
    busy = run(job(instance_type="ml.m5.4xlarge"), [series("job/algo-1", 96.0, metric="CPUUtilization")])
    assert busy.action == "none"
    # GPU metrics do not judge a CPU instance.
    assert run(job(instance_type="ml.m5.4xlarge"), [series("job/algo-1", 0.0)]).action == "none"


def test_trainium_is_judged_on_cpu() -> None:
    basis = utilization_basis("ml.trn1.32xlarge")
    assert basis is not None and basis.metric == "CPUUtilization"


def busy(j: TrainingJobSnapshot) -> list[HostUtilization]:
    return [series(h, 90.0) for h in j.hosts]


def test_max_runtime_runaway() -> None:
    policy = POLICY.model_copy(update={"runaway": RunawayRule(max_runtime_hours=10)})
    j = job(elapsed_h=10.5, max_runtime_seconds=48 * 3600)
    d = run(j, busy(j), policy)
    assert d.action == "stop" and d.severity == "HIGH" and "RunawayTrainingJob" in d.reason
    assert d.figures["findings"] == ["RunawayTrainingJob"]
    assert run(job(elapsed_h=9.5), busy(job(elapsed_h=9.5)), policy).action == "none"


def test_budget_tag_overrides_the_default() -> None:
    policy = POLICY.model_copy(update={"runaway": RunawayRule(default_budget_usd=1000)})
    j = job(count=2, elapsed_h=4, tags={"greenrail:budget-usd": "10"})  # 2 x 1.408 x 4 = 11.26
    d = run(j, busy(j), policy)
    assert d.action == "stop" and d.figures["budget_usd"] == 10 and "over the $10.00 budget" in d.reason
    assert d.figures["budget_source"] == "tag greenrail:budget-usd"
    untagged = job(count=2, elapsed_h=4)
    assert run(untagged, busy(untagged), policy).action == "none"
    assert job_budget(untagged, policy) == (1000, "policy runaway.default_budget_usd")
    # A tag that is not a positive number falls back to the default.
    assert job_budget(job(tags={"greenrail:budget-usd": "lots"}), policy)[0] == 1000
    assert job_budget(job(tags={"greenrail:budget-usd": "-3"}), policy)[0] == 1000
    assert job_budget(job(), POLICY) == (None, None)


def test_projected_over_budget_by_next_check() -> None:
    # $1.408/h; 15-min interval: 7.0 h -> $9.86 now, $10.21 at the next check: over $10.
    j = job(elapsed_h=7.0, tags={"greenrail:budget-usd": "10"})
    d = run(j, busy(j))
    assert d.action == "stop" and "by the next check" in d.reason
    j = job(elapsed_h=6.5, tags={"greenrail:budget-usd": "10"})
    assert run(j, busy(j)).action == "none"


def test_spot_jobs_priced_on_billable_time() -> None:
    # 8 h wall clock, 2 h billable (75 % spot saving): $2.82 so far, under a $5 budget.
    j = job(elapsed_h=8, spot=True, billable_seconds=2 * 3600, tags={"greenrail:budget-usd": "5"})
    d = run(j, busy(j))
    assert d.figures["billed_hours"] == 2 and d.figures["cost_so_far_usd"] == pytest.approx(2 * 1.408)
    assert d.action == "none"
    on_demand = job(elapsed_h=8, tags={"greenrail:budget-usd": "5"})
    assert run(on_demand, busy(on_demand)).action == "stop"


def test_price_override_from_policy() -> None:
    policy = POLICY.model_copy(update={"price_overrides_usd_per_hour": {"ml.g5.xlarge": 10.0}})
    j = job(elapsed_h=2)
    d = run(j, [series("job/algo-1", 0.0)], policy)
    assert d.figures["price_usd_per_hour"] == 10.0 and "policy" in d.figures["price_source"]


def test_unknown_price_still_judges_runtime_and_idleness() -> None:
    j = job(instance_type="ml.g5.xlarge")
    d = decide(j, [series("job/algo-1", 0.0)], POLICY, NOW, None)
    assert d.action == "stop" and "price_error" in d.figures


def test_exempt_by_tag_and_by_name_pattern() -> None:
    idle = [series("job/algo-1", 0.0)]
    d = run(job(tags={"greenrail:exempt": "TRUE"}), idle)
    assert d.action == "none" and d.compliant and d.figures["exempt"]
    policy = POLICY.model_copy(
        update={"exemptions": POLICY.exemptions.model_copy(update={"name_patterns": ["^job$"]})}
    )
    assert run(job(), idle, policy).action == "none"


def test_terminal_and_off() -> None:
    assert run(job(status="Stopping"), [series("job/algo-1", 0.0)]).action == "none"
    off = POLICY.model_copy(update={"mode": Mode.OFF})
    assert run(job(), [series("job/algo-1", 0.0)], off).action == "none"


def test_dry_run_decides_the_same() -> None:
    dry = POLICY.model_copy(update={"mode": Mode.DRY_RUN})
    d = run(job(), [series("job/algo-1", 0.0)], dry)
    assert d.action == "stop" and d.mode is Mode.DRY_RUN and not d.applied


def test_carbon_savings_use_the_carbon_model() -> None:
    d = run(job(), [series("job/algo-1", 1.0)])
    pytest.importorskip("greenrail.carbon")
    assert d.figures["avoided_kgco2e"] is not None and d.figures["avoided_kgco2e"] > 0
    assert d.savings.kgco2e_per_month == pytest.approx(d.figures["avoided_kgco2e"], abs=1e-3)


def test_snapshot_from_describe_response() -> None:
    described = {
        "TrainingJobName": "j",
        "TrainingJobArn": ARN + "j",
        "TrainingJobStatus": "InProgress",
        "ResourceConfig": {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 2},
        "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
        "EnableManagedSpotTraining": True,
        "TrainingStartTime": NOW - timedelta(hours=1),
        "CreationTime": NOW - timedelta(hours=2),
        "Tags": [{"Key": "a", "Value": "b"}],
    }
    snap = TrainingJobSnapshot.from_api(described, NOW, "123456789012", "us-east-1")
    assert snap.elapsed_seconds == 3600 and snap.spot and snap.max_runtime_seconds == 7200
    assert snap.tags == {"a": "b"} and snap.hosts == ["j/algo-1", "j/algo-2"]


def _retrier(error: str) -> dict[str, Any] | None:
    """The EvaluateJob retrier Step Functions applies to ``error`` (the first that matches, in order)."""
    definition = json.loads((ROOT / "statemachines" / "training_watch.asl.json").read_text())
    for retrier in definition["States"]["EvaluateJob"]["Retry"]:
        names = retrier["ErrorEquals"]
        if error in names or "States.ALL" in names:
            return dict(retrier)
        # States.TaskFailed matches any error of the Task except States.Timeout
        if "States.TaskFailed" in names and error != "States.Timeout":
            return dict(retrier)
    return None


@pytest.mark.parametrize("error", ["ClientError", "PublishError", "ValidationError", "States.TaskFailed"])
def test_the_watch_retries_application_errors_with_back_off(error: str) -> None:
    retrier = _retrier(error)
    assert retrier is not None, f"{error} would end the watch for good"
    assert retrier["ErrorEquals"] == ["States.TaskFailed"]
    assert retrier["MaxAttempts"] >= 3 and retrier["IntervalSeconds"] >= 10
    assert retrier["BackoffRate"] >= 2.0 and retrier["MaxDelaySeconds"] <= 300


@pytest.mark.parametrize("error", ["Lambda.TooManyRequestsException", "Lambda.ServiceException", "States.Timeout"])
def test_lambda_transient_errors_keep_their_quick_retrier(error: str) -> None:
    retrier = _retrier(error)
    assert retrier is not None and "Lambda.ServiceException" in retrier["ErrorEquals"]
    assert retrier["IntervalSeconds"] == 2 and retrier["MaxAttempts"] == 6


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:sagemaker:eu-west-1:222233334444:training-job/x", ("222233334444", "eu-west-1")),
        ("arn:aws-us-gov:sagemaker:us-gov-west-1:222233334444:training-job/a:b", ("222233334444", "us-gov-west-1")),
        ("training-job/x", (None, None)),
        (None, (None, None)),
        ("arn:aws:sagemaker:::training-job/x", (None, None)),
    ],
)
def test_arn_location(arn: str | None, expected: tuple[str | None, str | None]) -> None:
    assert arn_location(arn) == expected
