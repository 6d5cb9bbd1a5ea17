"""The retraining gate's truth table and its decision, on typed snapshots (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from greenrail.carbon_window import WindowChoice
from greenrail.decision import Mode
from greenrail.policies.retraining import (
    ComputeEstimate,
    CooldownEvidence,
    DriftEvidence,
    KpiEvidence,
    ModelSnapshot,
    RetrainingPolicy,
    client_request_token,
    decide,
    gate,
    schedule_name,
)

NOW = datetime(2026, 11, 29, 8, 30, tzinfo=UTC)
POLICY = RetrainingPolicy(mode=Mode.ENFORCE, cooldown_days=7)
DRIFT = DriftEvidence(drifted=True, source="cloudwatch", value=0.42, threshold=0.3, evidence_id="cw:drift:1",
                      detail="Maximum drift_score 0.42 > 0.3 over 24 h")


def model(drifted: bool = True, kpi: float | None = 0.7, higher_is_better: bool = True,
          last_started: datetime | None = None, pending: str | None = None, **changes: Any) -> ModelSnapshot:
    return ModelSnapshot(
        endpoint="churn-prod", endpoint_arn="arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn-prod",
        account="123456789012", region="eu-west-1", pipeline="churn-retrain",
        pipeline_arn="arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-retrain",
        drift=DRIFT.model_copy(update={"drifted": drifted}),
        kpi=KpiEvidence(value=kpi, threshold=0.8, higher_is_better=higher_is_better),
        cooldown=CooldownEvidence(last_started=last_started, pending_schedule=pending),
        compute=ComputeEstimate(hours=4.0, usd=12.24, kgco2e=1.5, kwh=4.2, jobs=["arn:job"]), **changes)


@pytest.mark.parametrize(("snapshot", "action", "why"), [
    (model(drifted=False), "none", "no drift"),
    (model(kpi=None), "hold", "no KPI data"),
    (model(kpi=0.85), "hold", "KPI is healthy"),
    (model(kpi=0.8), "hold", "KPI is healthy"),  # at the threshold: not past it
    (model(kpi=0.85, higher_is_better=False), "retrain", "KPI 0.85 over 0.8"),  # an error rate that rose
    (model(kpi=0.75, higher_is_better=False), "hold", "KPI is healthy"),
    (model(last_started=NOW - timedelta(days=2)), "hold", "inside the 7-day cool-down"),
    (model(last_started=NOW - timedelta(days=7, minutes=1)), "retrain", "KPI 0.7 under 0.8"),
    (model(pending="greenrail-retrain-churn-retrain-abc"), "hold", "already scheduled"),
    (model(problem="pipeline churn-retrain does not exist: nothing to start"), "hold", "does not exist"),
    (model(), "retrain", "drift (Maximum drift_score 0.42 > 0.3 over 24 h) and KPI 0.7 under 0.8"),
], ids=["no-drift", "no-kpi-data", "kpi-healthy", "kpi-at-threshold", "lower-is-better-breached",
        "lower-is-better-healthy", "inside-cooldown", "cooldown-over", "already-scheduled", "no-pipeline", "open"])
def test_the_gate(snapshot: ModelSnapshot, action: str, why: str) -> None:
    verdict = gate(snapshot, POLICY, NOW)
    assert verdict.action == action and why in verdict.reason


def test_no_drift_means_nothing_whatever_the_kpi() -> None:
    for kpi in (None, 0.1, 0.99):
        assert gate(model(drifted=False, kpi=kpi, last_started=NOW), POLICY, NOW).action == "none"


def window(hours_ahead: int, chosen: float = 120.0, now: float = 300.0) -> WindowChoice:
    return WindowChoice(scheduled_for=NOW.replace(minute=0) + timedelta(hours=hours_ahead), source="profile",
                        zone=None, intensity_chosen_g_per_kwh=chosen, intensity_now_g_per_kwh=now, note=None)


def test_retrain_decision_targets_the_pipeline_at_the_chosen_hour() -> None:
    decision = decide(model(), POLICY, NOW, window=window(5))
    assert decision.action == "retrain" and not decision.compliant
    assert decision.target == {"pipeline": "churn-retrain", "scheduled_for": "2026-11-29T13:00:00Z"}
    # kgCO2e avoided by waiting: one run's kWh x (intensity now - intensity then)
    assert decision.figures["kgco2e_avoided_by_waiting"] == pytest.approx(4.2 * (300 - 120) / 1000)
    assert decision.savings.kgco2e_per_month == pytest.approx(0.756, abs=1e-4)
    assert "13:00" in decision.reason


def test_retrain_without_a_window_is_at_once() -> None:
    decision = decide(model(), POLICY, NOW, window=None)
    assert decision.target["scheduled_for"] == "2026-11-29T08:30:00Z" and "at once" in decision.reason


def test_hold_carries_the_compute_avoided_flagged_estimated() -> None:
    decision = decide(model(kpi=0.9), POLICY, NOW)
    assert decision.action == "hold" and decision.savings.usd_per_month == 12.24
    assert decision.savings.kgco2e_per_month == 1.5 and "estimated" in decision.figures["savings_basis"]
    assert "healthy" in decision.reason


def test_exempt_and_off_are_never_retrained() -> None:
    exempt = model(tags={"greenrail:exempt": "true"})
    assert decide(exempt, POLICY, NOW).action == "none"
    assert decide(model(), POLICY, NOW, mode=Mode.OFF).action == "none"


def test_one_piece_of_evidence_one_token_and_one_schedule_name() -> None:
    first, again = model(), model(kpi=0.6)
    assert client_request_token(first) == client_request_token(again)
    assert 32 <= len(client_request_token(first)) <= 128  # StartPipelineExecution's ClientRequestToken
    other = model().model_copy(update={"drift": DRIFT.model_copy(update={"evidence_id": "cw:drift:2"})})
    assert client_request_token(other) != client_request_token(first)
    assert schedule_name(first) == schedule_name(again) != schedule_name(other)
    long = model().model_copy(update={"pipeline": "p" * 256})
    assert len(schedule_name(long)) <= 64  # EventBridge Scheduler: Name is 1-64 characters


@pytest.mark.parametrize("drift", [
    {"source": "cloudwatch", "metric_name": "drift_score"},  # no threshold
    {"source": "cloudwatch", "threshold": 0.3},  # no metric
    {"source": "model-monitor"},  # no schedule
])
def test_incomplete_drift_sources_are_refused(drift: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RetrainingPolicy.model_validate({"models": [{"endpoint": "e", "drift": drift,
                                                     "kpi": {"metric_name": "auc", "threshold": 0.8}}]})


def test_one_pipelines_schedules_never_match_anothers_prefix() -> None:
    from greenrail.policies.retraining import schedule_prefix

    churn = model().model_copy(update={"pipeline": "churn"})
    churn_retrain = model().model_copy(update={"pipeline": "churn-retrain"})
    assert not schedule_name(churn_retrain).startswith(schedule_prefix("churn"))
    assert schedule_name(churn).startswith(schedule_prefix("churn"))
    long_a = model().model_copy(update={"pipeline": "p" * 40 + "a"})
    long_b = model().model_copy(update={"pipeline": "p" * 40 + "b"})
    assert not schedule_name(long_a).startswith(schedule_prefix("p" * 40 + "b"))
    assert schedule_name(long_b).startswith(schedule_prefix("p" * 40 + "b"))


def test_an_endpoint_listed_twice_is_refused() -> None:
    entry = {"endpoint": "e", "drift": {"metric_name": "d", "threshold": 0.3},
             "kpi": {"metric_name": "auc", "threshold": 0.8}}
    with pytest.raises(ValidationError, match="listed twice"):
        RetrainingPolicy.model_validate({"models": [entry, entry]})
