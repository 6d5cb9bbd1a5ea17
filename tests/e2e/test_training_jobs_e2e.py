"""template.yaml in the emulator: a tuning job's, a processing job's and two training jobs' events
through the template's rules to the watch workflow, to what it decided and did (the demo's
``training_jobs_scenario``): a Random search gets recommend-bayesian, an idle processing job is
stopped, a lingering warm pool released, a cross-region input gets recommend-colocate."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from greenrail.aws import client
from greenrail_cli.demo.training import (
    PROCESSING_JOB,
    REMOTE_JOB,
    TUNING_JOB,
    WARM_POOL_JOB,
    training_jobs_scenario,
)
from greenrail_cli.emulator import ACCOUNT, REGION, Emulator
from greenrail_cli.emulator.moto_ext import sagemaker_tuning
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
ENFORCE = "training:\n  mode: enforce\n  check_interval_minutes: 15\ncarbon:\n  mode: 'off'\n"


@pytest.fixture(scope="module")
def run() -> Iterator[tuple[Emulator, dict]]:
    with Emulator(ENFORCE) as emulator:
        # (no POWERTOOLS_LOG_LEVEL override: the level would stay on the handlers' loggers for later tests)
        emulator.runtime.override_environment = {"POWERTOOLS_METRICS_DISABLED": "true"}
        log: list[str] = []
        yield emulator, training_jobs_scenario(emulator, log)


def decisions(emulator: Emulator, name: str) -> list:
    return [d for d in emulator.decisions if d.policy == "training" and d.resource.endswith(f"/{name}")]


def test_each_job_gets_its_action_through_its_own_event(run: tuple[Emulator, dict]) -> None:
    emulator, result = run
    assert result["jobs"] == {TUNING_JOB: "Completed", PROCESSING_JOB: "Stopped",
                              WARM_POOL_JOB: "warm pool Terminated", REMOTE_JOB: "Completed"}
    assert result["actions"] == {TUNING_JOB: "recommend-bayesian", PROCESSING_JOB: "stop",
                                 WARM_POOL_JOB: "release-warm-pool", REMOTE_JOB: "recommend-colocate"}
    assert emulator.dead_letters == []
    sfn = client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=emulator.physical("TrainingWatchStateMachine"))["executions"]
    names = {e["name"]: e["status"] for e in executions}
    assert names == {f"tuning-{TUNING_JOB}": "SUCCEEDED", f"processing-{PROCESSING_JOB}": "SUCCEEDED",
                     f"training-{WARM_POOL_JOB}": "SUCCEEDED", f"training-{REMOTE_JOB}": "SUCCEEDED"}


def test_enforce_applies_only_the_stop_and_the_release(run: tuple[Emulator, dict]) -> None:
    emulator, _ = run
    applied = {(d.resource.rsplit("/", 1)[-1], d.action) for d in emulator.decisions if d.applied}
    assert applied == {(PROCESSING_JOB, "stop"), (WARM_POOL_JOB, "release-warm-pool")}
    assert sagemaker_tuning.processing_stop_calls(PROCESSING_JOB, ACCOUNT, REGION) == 1
    assert sagemaker_tuning.tuning_stop_calls(TUNING_JOB, ACCOUNT, REGION) == 0


def test_each_finding_is_announced_once_and_closed_when_resolved(run: tuple[Emulator, dict]) -> None:
    emulator, _ = run
    tuning = decisions(emulator, TUNING_JOB)
    assert [d.action for d in tuning] == ["recommend-bayesian", "none"]  # announced once; closed at the end
    assert tuning[0].target == {"Strategy": "Bayesian"} and tuning[0].figures["savings_estimated"]
    pool = decisions(emulator, WARM_POOL_JOB)
    assert [(d.action, d.applied) for d in pool] == [("release-warm-pool", True), ("none", False)]
    assert pool[0].figures["warm_pool_available_minutes"] > 30
    remote = decisions(emulator, REMOTE_JOB)
    assert remote[0].action == "recommend-colocate" and remote[0].figures["bytes_read"] == 4 * 256_000
    by_resource = {f["Resources"][0]["Id"].rsplit("/", 1)[-1]: f for f in emulator.findings
                   if f["GeneratorId"] == "greenrail-training"}
    assert by_resource[PROCESSING_JOB]["Compliance"]["Status"] == "PASSED"  # stopped: no longer in breach
    assert by_resource[WARM_POOL_JOB]["Compliance"]["Status"] == "PASSED"


def test_a_model_monitor_execution_starts_no_watch(run: tuple[Emulator, dict]) -> None:
    emulator, _ = run
    sfn = client("stepfunctions")
    machine = emulator.physical("TrainingWatchStateMachine")
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    event = json.loads((ROOT / "events" / "nearmiss" / "sagemaker-processing-job-monitoring-inprogress.json").read_text())
    emulator.deliver(event)
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before
