"""The retraining policy through the deployed template: events, the daily sweep, the schedule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from greenrail.aws import client
from greenrail_cli.demo import DEMO_POLICY
from greenrail_cli.demo.retraining import scenario
from greenrail_cli.emulator import Emulator

pytestmark = pytest.mark.e2e


def decisions(emulator: Emulator) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for decision in emulator.decisions:
        if decision.policy == "retraining":
            found.setdefault(decision.resource.rsplit("/", 1)[1], []).append(decision)
    return found


def test_three_models_retrained_held_and_held() -> None:
    with Emulator(DEMO_POLICY) as emulator:
        state = scenario(emulator, [])
        by_endpoint = decisions(emulator)
        # churn: drift and a KPI drop -> one run, scheduled once (the alarm afterwards changed nothing)
        [churn] = by_endpoint["churn-prod"]
        assert churn.action == "retrain" and churn.applied and churn.target["pipeline"] == "churn-retrain"
        profile = [420, 410, 400, 395, 390, 392, 400, 415, 430, 420, 400, 380,
                   360, 345, 350, 365, 385, 410, 440, 455, 450, 445, 435, 425]
        # every 24-hour window holds 13:00 UTC, the profile's lowest hour (345 gCO2e/kWh)
        assert churn.figures["window"]["intensity_chosen_g_per_kwh"] == min(profile) == 345
        assert state["schedules"] == 1
        assert state["executions"]["churn"] == ["Executing"]  # started by the Scheduler at that hour
        # fraud: drift but a healthy KPI -> held, with the compute one run would have used
        [fraud] = by_endpoint["fraud-prod"]
        assert fraud.action == "hold" and not fraud.applied and "healthy" in fraud.reason
        assert fraud.savings.usd_per_month > 0 and fraud.figures["compute"]["jobs"]
        # ranker: Model Monitor violations and a KPI drop, inside the cool-down -> held
        [ranker] = by_endpoint["ranker-prod"]
        assert ranker.action == "hold" and "cool-down" in ranker.reason
        assert ranker.figures["drift"]["source"] == "model-monitor"
        assert state["executions"]["ranker"] == ["Succeeded"]  # only the run seeded two days ago
        assert emulator.dead_letters == []
        findings = {f["Resources"][0]["Id"].rsplit("/", 1)[1]: f for f in emulator.findings
                    if "retraining" in f["GeneratorId"]}
        assert set(findings) == {"churn-prod", "fraud-prod", "ranker-prod"}


def test_dry_run_schedules_and_starts_nothing() -> None:
    with Emulator(DEMO_POLICY.replace("retraining:\n  mode: enforce", "retraining:\n  mode: dry-run")) as emulator:
        state = scenario(emulator, [])
        [churn] = decisions(emulator)["churn-prod"]
        assert churn.action == "retrain" and not churn.applied
        assert state["schedules"] == 0 and state["executions"]["churn"] == []
        alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix="greenrail-drift-")["MetricAlarms"]
        assert alarms == []  # dry-run creates nothing, not even Greenrail's own drift alarms
        assert json.dumps(emulator.dead_letters) == "[]"
