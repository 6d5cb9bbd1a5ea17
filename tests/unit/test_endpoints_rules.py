"""The endpoints policy's pure rules: selection, idle, autoscaling, the guards, savings."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from greenrail.decision import Mode
from greenrail.policies.endpoints import (
    EndpointsPolicy,
    Load,
    Recommendation,
    RecommendationJob,
    Variant,
    decide,
    deployment_config,
    deployment_outcome,
    select,
    serverless_fit,
    settle_deployment,
)

ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/churn"


def rec(kind: str, count: int = 1, cost: float | None = 0.2, max_inv: float | None = 1000, latency: float | None = 30,
        **extra: object) -> Recommendation:
    return Recommendation(instance_type=kind, instance_count=count, cost_per_hour=cost, max_invocations=max_inv,
                          model_latency_ms=latency, **extra)


def load(peak: float | None = 100, p99_ms: float | None = 40, history: float = 14, median: float | None = 50,
         idle_sum: float = 5000, total: float = 90000) -> Load:
    return Load(history_days=history, datapoints=0 if peak is None else 20000, peak_per_minute=peak,
                median_per_minute=median, invocations_idle_window=idle_sum, invocations_lookback=total,
                p99_latency_ms=p99_ms)


def variant(recs: list[Recommendation], kind: str = "ml.m5.4xlarge", count: int = 1, the_load: Load | None = None,
            **extra: object) -> Variant:
    fields: dict[str, object] = dict(
        endpoint="churn", endpoint_arn=ARN, account="123456789012", region="us-east-1", endpoint_status="InService",
        config_name="churn-config", variant="AllTraffic", model_name="churn-model", instance_type=kind,
        instance_count=count, age_days=30, model_digest="abc",
        job=RecommendationJob(name="churn-ir", status="COMPLETED"), recommendations=recs,
        load=the_load if the_load is not None else load(), price_per_instance_hour=0.922, price_source="table")
    fields.update(extra)
    return Variant.model_validate(fields)


POLICY = EndpointsPolicy(latency_slo_ms=50)


def test_the_cheapest_fitting_recommendation_is_chosen() -> None:
    v = variant([rec("ml.c5.xlarge", cost=0.204), rec("ml.c5.large", cost=0.102), rec("ml.m5.xlarge", cost=0.23)])
    d = decide(v, POLICY)
    assert d.action == "downsize"
    assert d.target == {"variant": "AllTraffic", "instance_type": "ml.c5.large", "instance_count": 1}
    assert d.savings.usd_per_month == pytest.approx((0.922 - 0.102) * 730, abs=0.01)
    assert d.savings.kgco2e_per_month > 0  # m5.4xlarge (16 vCPUs) -> c5.large (2 vCPUs)


def test_ties_go_to_fewer_instances_then_lower_latency() -> None:
    tie = [rec("ml.c5.large", count=2, cost=0.2, latency=10), rec("ml.c5.xlarge", count=1, cost=0.2, latency=40),
           rec("ml.m5.large", count=1, cost=0.2, latency=20)]
    assert decide(variant(tie), POLICY).target["instance_type"] == "ml.m5.large"


def test_every_cheaper_option_over_the_slo_is_left_alone_naming_the_near_miss() -> None:
    v = variant([rec("ml.c5.large", cost=0.102, latency=72), rec("ml.c5.xlarge", cost=0.204, latency=61)])
    d = decide(v, POLICY)
    assert d.action == "none"
    assert "ModelLatency over the limit" in d.reason and "50.0 ms (the 50 ms SLO)" in d.reason
    assert "best near-miss ml.c5.large x1" in d.reason
    assert d.figures["near_miss"]["failed"] == ["latency"]


def test_without_an_slo_the_observed_p99_plus_tolerance_binds() -> None:
    policy = EndpointsPolicy(latency_tolerance_ms=10)
    v = variant([rec("ml.c5.large", cost=0.1, latency=55), rec("ml.c5.xlarge", cost=0.2, latency=45)],
                the_load=load(p99_ms=38.5))
    d = decide(v, policy)
    assert d.target["instance_type"] == "ml.c5.xlarge"
    assert d.figures["selection"]["latency_limit_ms"] == pytest.approx(48.5)


@pytest.mark.parametrize("p99", [None, float("nan")])
def test_no_slo_and_no_latency_data_downsizes_nothing(p99: float | None) -> None:
    d = decide(variant([rec("ml.c5.large")], the_load=load(p99_ms=p99)), EndpointsPolicy())
    assert d.action == "none" and "no observed p99 ModelLatency and no SLO" in d.reason


def test_throughput_binds_when_the_peak_times_headroom_is_not_covered() -> None:
    d = decide(variant([rec("ml.c5.large", max_inv=120)], the_load=load(peak=100)), POLICY)  # 100 x 1.3 = 130
    assert d.action == "none" and "MaxInvocations under the peak x headroom (peak 100/min x 1.3 = 130/min)" in d.reason


@pytest.mark.parametrize("bad", [dict(cost=None), dict(latency=None), dict(latency=float("nan")),
                                 dict(max_inv=float("nan")), dict(cost=math.inf)])
def test_recommendations_with_missing_or_nan_metrics_are_skipped(bad: dict[str, float | None]) -> None:
    broken = rec("ml.c5.large", **{"cost": 0.05, **bad})  # type: ignore[arg-type]
    assert decide(variant([broken, rec("ml.c5.xlarge", cost=0.2)]), POLICY).target["instance_type"] == "ml.c5.xlarge"
    alone = decide(variant([broken]), POLICY)
    assert alone.action == "none" and "lack a metric (missing or NaN)" in alone.reason


def test_savings_under_the_minimum_are_not_worth_a_deployment() -> None:
    policy = EndpointsPolicy(latency_slo_ms=50, min_savings={"usd_per_month": 700})
    d = decide(variant([rec("ml.c5.large", cost=0.102)]), policy)
    assert d.action == "none" and "saves less than the minimum" in d.reason


def test_going_from_two_instances_to_one_names_sagemaker_4() -> None:
    d = decide(variant([rec("ml.c5.xlarge", count=1, cost=0.204)], kind="ml.m5.2xlarge", count=2), POLICY)
    assert d.action == "downsize" and "SageMaker.4" in d.reason and d.figures["sagemaker_4_conflict"] is True


def test_the_instance_count_floor_forbids_going_under_it() -> None:
    policy = EndpointsPolicy(latency_slo_ms=50, min_instance_count=2)
    recs = [rec("ml.c5.xlarge", count=1, cost=0.204), rec("ml.c5.large", count=2, cost=0.3)]
    d = decide(variant(recs, kind="ml.m5.2xlarge", count=2), policy)
    assert d.target == {"variant": "AllTraffic", "instance_type": "ml.c5.large", "instance_count": 2}
    only_one = decide(variant(recs[:1], kind="ml.m5.2xlarge", count=2), policy)
    assert only_one.action == "none" and "fewer instances than min_instance_count" in only_one.reason


def test_no_cloudwatch_data_and_short_history_change_nothing() -> None:
    young = decide(variant([rec("ml.c5.large")], the_load=load(peak=None, idle_sum=0, total=0, history=2), age_days=2),
                   POLICY)
    assert young.action == "none" and "no CloudWatch data" in young.reason
    short = decide(variant([rec("ml.c5.large")], the_load=load(history=2), age_days=2), POLICY)
    assert short.action == "none" and "only 2.0 days of history" in short.reason


def test_no_completed_job_says_which_job() -> None:
    failed = RecommendationJob(name="churn-ir", status="FAILED", failure="model failed to load")
    d = decide(variant([], job=failed), POLICY)
    assert d.action == "none" and "churn-ir FAILED (model failed to load)" in d.reason
    waited = RecommendationJob(name="churn-ir", status="IN_PROGRESS", gave_up=True)
    assert "still IN_PROGRESS after the policy's wait" in decide(variant([], job=waited), POLICY).reason


@pytest.mark.parametrize(("status", "serverless", "tags", "expected"), [
    ("Updating", False, {}, "not InService"),
    ("RollingBack", False, {}, "not InService"),
    ("InService", True, {}, "serverless"),
    ("InService", False, {"greenrail:exempt": "true"}, "exempt"),
    ("InService", False, {"greenrail:endpoints-rolled-back": "abc"}, "rolled back"),
])
def test_endpoints_never_touched(status: str, serverless: bool, tags: dict[str, str], expected: str) -> None:
    d = decide(variant([rec("ml.c5.large", cost=0.1)], endpoint_status=status, serverless=serverless, tags=tags), POLICY)
    assert d.action == "none" and expected in d.reason


def test_a_new_model_is_tried_again_after_a_rollback() -> None:
    v = variant([rec("ml.c5.large", cost=0.1)], tags={"greenrail:endpoints-rolled-back": "old-model"})
    assert decide(v, POLICY).action == "downsize"


def test_idle_small_cpu_endpoint_fits_serverless() -> None:
    idle = load(peak=None, idle_sum=0, total=0)
    d = decide(variant([], kind="ml.c5.large", the_load=idle, price_per_instance_hour=0.102), POLICY)
    assert d.action == "recommend-serverless" and d.target["memory_size_mb"] == 4096
    assert d.savings.usd_per_month == pytest.approx(0.102 * 730, abs=0.01)


@pytest.mark.parametrize(("extra", "why"), [
    (dict(kind="ml.g4dn.xlarge"), "accelerators"),
    (dict(kind="ml.m5.xlarge"), "6 GB"),  # 16 GiB
    (dict(data_capture=True), "data capture"),
    (dict(vpc=True), "VPC"),
    (dict(variants_on_endpoint=2), "2 variants"),
])
def test_serverless_does_not_fit(extra: dict[str, object], why: str) -> None:
    kind = str(extra.pop("kind", "ml.c5.large"))
    fits, reason, _ = serverless_fit(variant([], kind=kind, **extra))
    assert not fits and why in reason


def test_memory_use_from_the_recommendation_lets_a_larger_instance_fit() -> None:
    v = variant([rec("ml.m5.xlarge", memory_utilization=25.0)], kind="ml.m5.xlarge")  # 16 GiB x 25%
    assert serverless_fit(v) == (True, "", 4096)


def test_idle_that_does_not_fit_is_async_when_used_in_the_lookback_else_delete() -> None:
    used = decide(variant([], kind="ml.g5.xlarge", the_load=load(idle_sum=0, total=40)), POLICY)
    assert used.action == "recommend-async"
    unused = decide(variant([], kind="ml.g5.xlarge", the_load=load(peak=None, idle_sum=0, total=0)), POLICY)
    assert unused.action == "recommend-delete" and "config is kept" in unused.reason


def test_varying_load_on_several_instances_without_autoscaling_gets_a_target() -> None:
    v = variant([rec("ml.m5.xlarge", count=1, max_inv=400, cost=0.23)], kind="ml.m5.xlarge", count=4,
                the_load=load(peak=600, median=100), price_per_instance_hour=0.23)
    d = decide(v, POLICY)
    assert d.action == "recommend-autoscaling"
    assert d.target["target_value"] == 200.0 and d.target["max_capacity"] == 4 and d.target["min_capacity"] == 1
    assert decide(v.model_copy(update={"autoscaled": True}), POLICY).action == "none"


def test_dry_run_and_off() -> None:
    v = variant([rec("ml.c5.large", cost=0.1)])
    assert decide(v, POLICY, Mode.OFF).action == "none"
    assert decide(v, POLICY, Mode.DRY_RUN).mode is Mode.DRY_RUN


def test_select_reports_the_binding_constraint() -> None:
    v = variant([rec("ml.c5.large", cost=0.1, max_inv=50)])
    chosen = select(v, load(peak=100), 0.922, POLICY)
    assert chosen.chosen is None and chosen.binding == "throughput" and chosen.required_invocations == 130


def test_deployment_config_is_canary_with_bake_and_rollback_alarms() -> None:
    config = deployment_config(EndpointsPolicy(), ("a-latency", "a-5xx"))
    traffic = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert traffic == {"Type": "CANARY", "WaitIntervalInSeconds": 1800,
                       "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}
    assert config["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "a-latency"}, {"AlarmName": "a-5xx"}]}
    single = deployment_config(EndpointsPolicy(), (), new_count=1)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert single == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 1800}
    linear = deployment_config(EndpointsPolicy(traffic_routing={"type": "linear"}), (), new_count=4)
    assert linear["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["LinearStepSize"]["Value"] == 25


def test_deployment_outcomes() -> None:
    d = decide(variant([rec("ml.c5.large", cost=0.1)]), POLICY)
    assert deployment_outcome(None, "new", "old").state == "gone"
    assert deployment_outcome({"EndpointStatus": "Updating", "EndpointConfigName": "old"}, "new", "old").state == "in-progress"
    done = settle_deployment(d, deployment_outcome({"EndpointStatus": "InService", "EndpointConfigName": "new"}, "new", "old"))
    assert done.applied and done.compliant
    back = settle_deployment(d, deployment_outcome({"EndpointStatus": "InService", "EndpointConfigName": "old",
                                                    "FailureReason": "alarm a-latency in ALARM"}, "new", "old"))
    assert not back.applied and back.error == "RolledBack" and "alarm a-latency in ALARM" in back.reason
    other = deployment_outcome({"EndpointStatus": "InService", "EndpointConfigName": "theirs"}, "new", "old")
    assert settle_deployment(d, other).error == "EndpointChanged"


def test_the_job_role_is_required_to_start_jobs() -> None:
    with pytest.raises(ValidationError, match="recommendation_job_role_arn"):
        EndpointsPolicy(allow_start_recommendation_job=True)


def test_member_accounts_forward_endpoint_and_deployment_events() -> None:
    """The central rules (EndpointInService, EndpointDeployment) see member accounts' endpoints."""
    import json
    from pathlib import Path

    from moto.events.models import EventPattern

    from greenrail_cli.emulator.deploy import load_template

    root = Path(__file__).resolve().parents[2]
    member = load_template(root / "org" / "member-account.yaml")["Resources"]
    pattern = EventPattern.load(json.dumps(member["ForwardRule"]["Properties"]["EventPattern"]))
    for name in ("sagemaker-endpoint-in-service.json", "sagemaker-endpoint-deployment-baking.json",
                 "sagemaker-endpoint-deployment-rolling-back.json"):
        assert pattern.matches_event(json.loads((root / "events" / name).read_text())), name


def test_carbon_savings_use_the_observed_utilisation_when_there_is_one() -> None:
    """Inference Recommender's CpuUtilization is at MaxInvocations: at the observed median (50/min)
    the chosen ml.c5.large (60% at 1000/min) runs at 3%, the current ml.m5.4xlarge (40% at
    5000/min) at 0.4%; without a recommendation for the current type, CCF's 50% average."""
    from greenrail import carbon

    current = rec("ml.m5.4xlarge", cost=0.922, max_inv=5000, latency=15, cpu_utilization=40.0)
    chosen = rec("ml.c5.large", cost=0.102, cpu_utilization=60.0)
    d = decide(variant([current, chosen]), POLICY)
    before = carbon.estimate("ml.m5.4xlarge", 730, "us-east-1", cpu_util=0.004).kgco2e
    after = carbon.estimate("ml.c5.large", 730, "us-east-1", cpu_util=0.03).kgco2e
    assert d.figures["cpu_utilization_before"] == pytest.approx(0.004)
    assert d.figures["cpu_utilization_after"] == pytest.approx(0.03)
    assert d.savings.kgco2e_per_month == pytest.approx(round(before - after, 4), abs=1e-4)
    alone = decide(variant([chosen.model_copy(update={"cpu_utilization": None})]), POLICY)
    default = (carbon.estimate("ml.m5.4xlarge", 730, "us-east-1").kgco2e
               - carbon.estimate("ml.c5.large", 730, "us-east-1").kgco2e)
    assert alone.figures["cpu_utilization_before"] is None
    assert alone.savings.kgco2e_per_month == pytest.approx(round(default, 4), abs=1e-4)
