"""The notebooks policy through the deployed template: CloudTrail and notebook events, the sweep.

One emulator (deploying the template is most of an e2e test's time); dry-run, conflicts and apps
that vanish mid-sweep are tested against the emulator's SageMaker in tests/integration/test_notebooks.py."""

from __future__ import annotations

from typing import Any

import pytest

from greenrail.decision import Decision
from greenrail_cli.demo import DEMO_POLICY
from greenrail_cli.demo.notebooks import scenario
from greenrail_cli.emulator import Emulator

pytestmark = pytest.mark.e2e


def decisions(emulator: Emulator) -> dict[str, list[Decision]]:
    found: dict[str, list[Decision]] = {}
    for decision in emulator.decisions:
        if decision.policy == "notebooks":
            found.setdefault(decision.action, []).append(decision)
    return found


def names(found: list[Decision]) -> list[str]:
    return sorted(d.resource.split(":", 5)[5] for d in found)


def test_the_demo_estate_is_governed_through_the_template() -> None:
    with Emulator(DEMO_POLICY) as emulator:
        state: dict[str, Any] = scenario(emulator, [])
        by_action = decisions(emulator)
        assert names(by_action["set-idle-shutdown"]) == [f"domain/{state['domain']}"]
        assert names(by_action["set-default-instance"]) == [f"space/{state['domain']}/ana-gpu"]
        assert names(by_action["delete-app"]) == [f"app/{state['domain']}/ana-gpu/jupyterlab/default"]
        assert names(by_action["stop"]) == ["notebook-instance/nightly-explore"]
        assert names(by_action["recommend-auto-stop"]) == ["notebook-instance/always-on-demo"]
        acted = [d for action, found in by_action.items() if action != "recommend-auto-stop" for d in found]
        assert all(d.applied and d.error is None for d in acted)  # each announced once, applied
        [deleted] = by_action["delete-app"]
        assert deleted.figures["accelerated"] and deleted.savings.usd_per_month > 0
        assert deleted.savings.kgco2e_per_month > 0
        # what is left: idle shutdown on, the idle GPU app gone, the active one kept, the space on
        # a CPU default, the night-time instance stopped, the "always" one running
        assert state["apps"] == {"ana-gpu": "Deleted", "bo-cpu": "InService"}
        assert state["spaces"] == {"ana-gpu": "ml.t3.medium", "bo-cpu": "ml.t3.medium"}
        assert state["notebooks"] == {"nightly-explore": "Stopped", "always-on-demo": "InService"}
        settings = state["domain_settings"]
        lab = settings["JupyterLabAppSettings"]
        assert lab["AppLifecycleManagement"]["IdleSettings"]["IdleTimeoutInMinutes"] == 120
        assert lab["DefaultResourceSpec"] == {"InstanceType": "ml.t3.medium"}  # kept
        assert settings["ExecutionRole"].endswith("AmazonSageMaker-ExecutionRole")  # kept
        assert "DeleteApp calls for ana-gpu/default: 1" in state["lines"]
        assert emulator.dead_letters == []
        findings = [f for f in emulator.findings if "notebooks" in f["GeneratorId"]]
        assert len(findings) == 5
