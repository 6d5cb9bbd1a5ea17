"""template.yaml deployed into the emulator: the sample InProgress event through the carbon
function's TrainingJobStarted rule to one pre-flight ``estimate-carbon`` decision, audited, with the same job in the lowest-carbon EU regions."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from greenrail_cli.emulator import Emulator
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
SAMPLE = json.loads((ROOT / "events" / "sagemaker-training-job-inprogress.json").read_text())
# The training watch is off: this is about the carbon function's pre-flight only.
POLICY = "training:\n  mode: 'off'\ncarbon:\n  mode: dry-run\n  preflight:\n    residency: EU\n    regions_shown: 2\n"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(POLICY) as running:
        running.deliver(SAMPLE)
        running.deliver({**SAMPLE, "id": "second-inprogress-event"})  # SageMaker repeats InProgress
        yield running


def test_the_inprogress_event_publishes_one_preflight_estimate(emulator: Emulator) -> None:
    detail = SAMPLE["detail"]
    [decision] = emulator.decisions
    assert decision.policy == "carbon" and decision.action == "estimate-carbon"
    assert decision.resource == detail["TrainingJobArn"] and decision.severity == "INFORMATIONAL"
    assert not decision.applied and not decision.compliant and decision.savings.kgco2e_per_month == 0
    figures = decision.figures
    # upper bound: MaxRuntimeInSeconds (48 h) x 2 x ml.g5.12xlarge, utilization assumed (estimated)
    assert figures["max_runtime_hours"] == 48 and figures["instances"] == [{"instance_type": "ml.g5.12xlarge", "count": 2}]
    assert figures["estimated"] is True and figures["utilization_measured"] is False
    bound = figures["upper_bound"]
    assert bound["kwh"] > 0 and bound["kgco2e"] > 0 and "kgco2e" not in figures  # a bound, not an emission
    greener = figures["greener_regions"]
    assert [r["region"] for r in greener] == ["eu-north-1", "eu-west-3"] and decision.target == {
        "regions": ["eu-north-1", "eu-west-3"]}
    assert greener[0]["kgco2e"] < bound["kgco2e"] and greener[0]["kwh"] == pytest.approx(bound["kwh"], rel=1e-5)
    assert "eu-north-1 would emit" in decision.reason and "us-east-1" in decision.reason


def test_the_estimate_is_audited_without_a_compliance_status(emulator: Emulator) -> None:
    [finding] = emulator.findings
    assert "Compliance" not in finding and finding["Severity"]["Label"] == "INFORMATIONAL"
    assert emulator.dead_letters == []


def test_the_demo_scenario_shows_a_preflight_with_greener_regions(emulator: Emulator) -> None:
    from greenrail_cli.demo.carbon import PREFLIGHT_JOB, scenario

    log: list[str] = []
    state = scenario(emulator, log)  # on this module's emulator: its policy keeps the comparison in the EU
    [line] = log
    assert line.startswith(f"pre-flight: {PREFLIGHT_JOB.name} (ml.p4d.24xlarge x 1, up to 72 h) at most ")
    assert "in us-east-1; greener regions offering it: eu-north-1 " in line
    assert state["preflight"]["greener_regions"][0]["region"] == "eu-north-1"
    assert emulator.dead_letters == []
