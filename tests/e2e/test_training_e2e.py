"""template.yaml deployed into the emulator; SageMaker training job events through the template's
rules, the watch workflow on moto's Step Functions interpreter, to the jobs' final state."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from greenrail.audit import finding_id, to_finding
from greenrail.aws import client
from greenrail_cli.demo import DEMO_POLICY
from greenrail_cli.demo.training import (
    JOBS,
    DemoJob,
    JobLifetimes,
    create_job,
    put_gpu_utilization,
    training_scenario,
    watch_executions,
)
from greenrail_cli.emulator import ACCOUNT, REGION, Emulator
from greenrail_cli.emulator.moto_ext import sagemaker_training as ext
from tests.conftest import EACH, ROOT

pytestmark = pytest.mark.e2e
SAMPLE = json.loads((ROOT / "events" / "sagemaker-training-job-inprogress.json").read_text())
# The carbon policy (which reacts to the jobs' terminal events) is off: these tests are about the watch.
ENFORCE = EACH + "training:\n  mode: enforce\n  check_interval_minutes: 15\ncarbon:\n  mode: 'off'\n"
DRY_RUN = EACH + "training:\n  mode: dry-run\n  check_interval_minutes: 15\ncarbon:\n  mode: 'off'\n"

IDLE = DemoJob("llm-idle", "idle", "ml.g5.xlarge", 1, 1.0, 3.0)
RUNAWAY = DemoJob(
    "vision-runaway",
    "runaway",
    "ml.p4d.24xlarge",
    8,
    88.0,
    10.0,
    {"greenrail:budget-usd": "200"},
    max_runtime_seconds=172_800,
)
BUSY = DemoJob("churn-busy", "healthy", "ml.g5.2xlarge", 1, 82.0, 2.0, finishes_after_minutes=20)
EXEMPT = DemoJob(
    "debug-exempt",
    "exempt",
    "ml.g4dn.xlarge",
    1,
    0.5,
    3.0,
    {"greenrail:exempt": "true"},
    finishes_after_minutes=40,
)


@pytest.fixture
def enforce() -> Iterator[Emulator]:
    with Emulator(ENFORCE) as emulator:
        yield emulator


def seed(job: DemoJob) -> str:
    create_job(job)
    put_gpu_utilization(job.name, job.gpu_percent, job.gpus)
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{job.name}"


def status(name: str) -> str:
    return str(client("sagemaker").describe_training_job(TrainingJobName=name)["TrainingJobStatus"])


def turns(emulator: Emulator, job_name: str) -> list[dict[str, Any]]:
    """The watch's EvaluateJob results (the Task's Payload), in order."""
    sfn = client("stepfunctions")
    [execution] = [
        e
        for e in sfn.list_executions(stateMachineArn=emulator.physical("TrainingWatchStateMachine"))[
            "executions"
        ]
        if e["name"] == f"training-{job_name}"
    ]
    history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    return [
        json.loads(e["taskSucceededEventDetails"]["output"])["Payload"]
        for e in history
        if e["type"] == "TaskSucceeded"
    ]


def record_imports() -> list[dict[str, Any]]:
    """Every finding the auditor sends to BatchImportFindings, in order (Security Hub keeps the last)."""
    imported: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        imported.extend(copy.deepcopy(params["Findings"]))

    client("securityhub").meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings", record
    )
    return imported


def offer(event: dict[str, Any]) -> None:
    """Hand an event to the default bus rules without waiting (``Emulator.deliver`` minus its drain),
    for delivering from inside a running workflow."""
    from moto.events.models import events_backends

    for rule in list(events_backends[ACCOUNT][REGION].event_buses["default"].rules.values()):
        rule.send_to_targets(copy.deepcopy(event), transform_input=True)


def test_sample_event_stops_an_idle_gpu_job(enforce: Emulator) -> None:
    """events/sagemaker-training-job-inprogress.json (2 x ml.g5.12xlarge, 4 GPUs each), both hosts idle."""
    detail = SAMPLE["detail"]
    name = detail["TrainingJobName"]
    client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification=detail["AlgorithmSpecification"],
        RoleArn=detail["RoleArn"],
        OutputDataConfig=detail["OutputDataConfig"],
        ResourceConfig=detail["ResourceConfig"],
        StoppingCondition=detail["StoppingCondition"],
        HyperParameters=detail["HyperParameters"],
        Tags=[{"Key": k, "Value": v} for k, v in detail["Tags"].items()],
    )
    ext.set_training_job_status(
        name, "InProgress", start_time=datetime.fromtimestamp(time.time() - 3 * 3600, UTC)
    )
    for host in (1, 2):
        put_gpu_utilization(name, 1.0, gpus=4, host=host)
    imported = record_imports()

    enforce.deliver(SAMPLE)

    assert status(name) == "Stopped" and ext.stop_calls(name) == 1
    sfn = client("stepfunctions")
    [execution] = sfn.list_executions(stateMachineArn=enforce.physical("TrainingWatchStateMachine"))[
        "executions"
    ]
    assert execution["name"] == f"training-{name}" and execution["status"] == "SUCCEEDED"
    # turn 1 stops it, turn 2 sees it Stopping (nothing published), turn 3 sees it Stopped and ends the watch
    assert [(t["status"], t["action"], t["applied"], t["done"]) for t in turns(enforce, name)] == [
        ("Stopping", "stop", True, False),
        ("Stopping", "none", False, False),
        ("Stopped", "none", False, True),
    ]

    stop, ended = enforce.decisions
    assert stop.action == "stop" and stop.applied and stop.mode.value == "enforce" and not stop.compliant
    assert stop.resource == detail["TrainingJobArn"] and stop.severity == "MEDIUM"
    assert stop.reason.startswith("IdleTrainingJob") and stop.figures["findings"] == ["IdleTrainingJob"]
    assert set(stop.figures["idle"]["hosts"]) == {f"{name}/algo-1", f"{name}/algo-2"}
    assert stop.figures["idle"]["metric"] == "GPUUtilization" and stop.figures["idle"]["devices"] == 4
    assert stop.figures["budget_usd"] == 400.0  # the job's greenrail:budget-usd tag, not exceeded
    assert stop.savings.usd_per_month > 0
    assert ended.action == "none" and ended.compliant and ended.figures["status"] == "Stopped"

    first, second = enforce.notifications
    message = json.loads(first["message"])
    assert message["version"] == "1.0" and message["source"] == "custom"
    assert message["content"]["title"].endswith("training: stop")
    assert message["metadata"]["additionalContext"]["applied"] == "true"
    assert detail["TrainingJobArn"] in message["metadata"]["relatedResources"]
    assert "IdleTrainingJob" in message["content"]["description"]
    assert json.loads(second["message"])["metadata"]["additionalContext"]["compliant"] == "true"

    # The finding goes FAILED/ACTIVE when the stop is decided, PASSED/ARCHIVED once the job has stopped.
    assert [(f["Compliance"]["Status"], f["RecordState"], f["Severity"]["Label"]) for f in imported] == [
        ("FAILED", "ACTIVE", "MEDIUM"),
        ("PASSED", "ARCHIVED", "INFORMATIONAL"),
    ]
    assert to_finding(stop)["Compliance"] == {"Status": "FAILED"}
    [finding] = enforce.findings
    assert finding["Id"] == finding_id("training", detail["TrainingJobArn"])
    assert finding["Compliance"]["Status"] == "PASSED" and finding["RecordState"] == "ARCHIVED"
    resource = finding["Resources"][0]
    assert resource["Type"] == "Other" and resource["Id"] == detail["TrainingJobArn"]
    assert resource["Details"]["Other"] == {
        "Service": "sagemaker",
        "ResourceType": "training-job",
        "Name": name,
    }
    assert finding["ProductFields"]["greenrail/policy"] == "training"
    assert finding["ProductFields"]["greenrail/figures/status"] == "Stopped"
    assert enforce.dead_letters == []


def test_runaway_stopped_busy_runs_to_completion_exempt_untouched(enforce: Emulator) -> None:
    arns = {job.name: seed(job) for job in (RUNAWAY, BUSY, EXEMPT)}
    lifetimes = JobLifetimes(enforce, ACCOUNT, REGION)
    seen: dict[str, list[str]] = {BUSY.name: [], EXEMPT.name: []}

    def watch_status(_seconds: int) -> None:  # each job's status at every Wait, before lifetimes acts
        from moto.sagemaker.models import sagemaker_backends

        for name, statuses in seen.items():
            statuses.append(sagemaker_backends[ACCOUNT][REGION].training_jobs[name].training_job_status)

    enforce.clock.listeners.extend([watch_status, lifetimes])
    for job in (RUNAWAY, BUSY, EXEMPT):
        if job.finishes_after_minutes:
            lifetimes.finish_after(job.name, job.finishes_after_minutes * 60)
        enforce.deliver(ext.training_job_state_change_event(job.name))

    assert {job.name: status(job.name) for job in (RUNAWAY, BUSY, EXEMPT)} == {
        RUNAWAY.name: "Stopped",
        BUSY.name: "Completed",
        EXEMPT.name: "Completed",
    }
    assert ext.stop_calls(RUNAWAY.name) == 1 and ext.stop_calls(BUSY.name) == ext.stop_calls(EXEMPT.name) == 0
    # the busy job was still InProgress and evaluated busy on the first turn; it completed on its own
    assert [(t["status"], t["action"]) for t in turns(enforce, BUSY.name)] == [
        ("InProgress", "none"),
        ("Completed", "none"),
    ]
    assert lifetimes.completed == [BUSY.name, EXEMPT.name]
    assert [(t["status"], t["action"]) for t in turns(enforce, EXEMPT.name)] == [
        ("InProgress", "none"),
        ("InProgress", "none"),
        ("Completed", "none"),
    ]
    assert seen[EXEMPT.name][-3:] == ["InProgress", "InProgress", "InProgress"]

    # decisions, notifications and findings only for the runaway job
    stop, ended = enforce.decisions
    assert {stop.resource, ended.resource} == {arns[RUNAWAY.name]}
    assert stop.action == "stop" and stop.applied and stop.severity == "HIGH"
    assert stop.reason.startswith("RunawayTrainingJob") and "greenrail:budget-usd" in stop.reason
    assert stop.figures["budget_usd"] == 200.0 and stop.figures["cost_so_far_usd"] > 200
    assert stop.figures["idle"]["state"] == "busy"
    assert [n["subject"].split(" ")[3] for n in enforce.notifications] == ["stop", "none"]
    assert [f["Resources"][0]["Id"] for f in enforce.findings] == [arns[RUNAWAY.name]]
    assert enforce.dead_letters == []


def test_duplicate_inprogress_events_start_one_watch(enforce: Emulator) -> None:
    seed(IDLE)
    event = ext.training_job_state_change_event(IDLE.name)
    starter = enforce.physical("TrainingWatchStartFunction").rsplit(":", 1)[-1]

    def starter_runs() -> list[dict[str, Any]]:
        return [i.result for i in enforce.runtime.invocations if i.function == starter]

    state = {"offered": False}

    def duplicate_while_running(_seconds: int) -> None:
        # SageMaker's second event for the same change (a new event id) while the watch runs:
        # the drain loop runs the starter now, while this execution waits here, still RUNNING.
        if state["offered"]:
            return
        state["offered"] = True
        offer({**event, "id": "duplicate-while-running"})
        deadline = time.monotonic() + 10
        while len(starter_runs()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    enforce.clock.listeners.append(duplicate_while_running)
    enforce.deliver(event)
    enforce.deliver({**event, "id": "duplicate-after-the-end"})  # the watch has ended by now

    executions = client("stepfunctions").list_executions(
        stateMachineArn=enforce.physical("TrainingWatchStateMachine")
    )["executions"]
    assert [(e["name"], e["status"]) for e in executions] == [(f"training-{IDLE.name}", "SUCCEEDED")]
    first, while_running, after_end = starter_runs()
    assert first["started"] is True
    # Step Functions returns the running execution for the same name and input (idempotent start) ...
    assert while_running["execution_arn"] == first["execution_arn"]
    # ... and ExecutionAlreadyExists once it has ended, which the starter treats as "already watched"
    assert after_end == {
        "started": False,
        "reason": "already watched",
        "execution_name": f"training-{IDLE.name}",
    }
    assert status(IDLE.name) == "Stopped" and ext.stop_calls(IDLE.name) == 1
    assert [d.action for d in enforce.decisions] == ["stop", "none"]
    assert len(enforce.notifications) == 2 and len(enforce.findings) == 1
    assert enforce.dead_letters == []


def test_dry_run_stops_nothing_and_the_finding_stays_failed() -> None:
    # MaxRuntimeInSeconds 4 h -> 20 turns at most (ceil(4 h / 15 min) + 4), then WatchLimitReached
    job = DemoJob("llm-idle-dry", "idle", "ml.g5.xlarge", 1, 1.0, 3.0, max_runtime_seconds=4 * 3600)
    with Emulator(DRY_RUN) as emulator:
        arn = seed(job)
        emulator.deliver(ext.training_job_state_change_event(job.name))

        assert status(job.name) == "InProgress" and ext.stop_calls(job.name) == 0
        [execution] = watch_executions(emulator)[job.name]
        assert execution["status"] == "FAILED" and execution["error"] == "Greenrail.WatchLimitReached"
        assert execution["turns"] == 20
        [decision] = emulator.decisions  # the same finding every turn is announced once
        assert decision.action == "stop" and not decision.applied and decision.mode.value == "dry-run"
        [notification] = emulator.notifications
        assert json.loads(notification["message"])["metadata"]["additionalContext"]["applied"] == "false"
        [finding] = emulator.findings
        assert finding["Resources"][0]["Id"] == arn
        assert finding["Compliance"]["Status"] == "FAILED" and finding["RecordState"] == "ACTIVE"
        assert finding["Severity"]["Label"] == "MEDIUM"
        assert "enforce" in finding["Remediation"]["Recommendation"]["Text"]


def test_demo_training_scenario_stops_exactly_the_idle_and_runaway_jobs() -> None:
    log: list[str] = []
    with Emulator(DEMO_POLICY) as emulator:
        emulator.runtime.override_environment = {
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        result = training_scenario(emulator, log)
        stopped = {job.name for job in JOBS if job.role in ("idle", "runaway")}
        assert {name for name, s in result["jobs"].items() if s == "Stopped"} == stopped
        assert {name: s for name, s in result["jobs"].items() if name not in stopped} == {
            "churn-xgb-healthy": "Completed",
            "notebook-debug-exempt": "Completed",
        }
        assert result["lines"] == [f"{name}: {s}" for name, s in result["jobs"].items()]
        assert all(ext.stop_calls(job.name) == (1 if job.name in stopped else 0) for job in JOBS)
        assert all(w["status"] == "SUCCEEDED" for ws in result["executions"].values() for w in ws)

        stops = [d for d in emulator.decisions if d.action == "stop"]
        assert sorted(d.resource.rsplit("/", 1)[-1] for d in stops) == sorted(stopped)
        assert all(d.applied for d in stops)
        # the demo's notifications are digests (greenrail.digest): one for the training policy, its
        # biggest savings (the two stops) first
        assert emulator.notifications == []  # held until the digest is sent
        emulator.flush_digests()
        [digest] = [m for m in (json.loads(n["message"]) for n in emulator.notifications)
                    if m["metadata"]["additionalContext"]["policy"] == "training"]
        assert {r.rsplit("/", 1)[-1] for r in digest["metadata"]["relatedResources"][:2]} == stopped
        assert digest["metadata"]["additionalContext"]["applied"] == str(len(stopped))
        training_findings = [f for f in emulator.findings if f["GeneratorId"] == "greenrail-training"]
        assert {f["Resources"][0]["Id"].rsplit("/", 1)[-1] for f in training_findings} == stopped
        # every job that ended (stopped or completed) got its carbon record on a Model Card
        # (the exempt job is exempt from every policy: no record, and nothing announced)
        carbon = [d for d in emulator.decisions if d.policy == "carbon" and d.action == "publish-carbon-record"]
        exempt = {job.name for job in JOBS if job.role == "exempt"}
        # and every job that started got a pre-flight estimate (carbon policy, informational)
        preflight = [d for d in emulator.decisions if d.action == "estimate-carbon"]
        assert sorted(d.resource.rsplit("/", 1)[-1] for d in preflight) == sorted(set(result["jobs"]) - exempt)
        assert sorted(d.resource.rsplit("/", 1)[-1] for d in carbon) == sorted(set(result["jobs"]) - exempt)
        assert all(d.applied for d in carbon)
        carbon_findings = [f for f in emulator.findings if f["GeneratorId"] == "greenrail-carbon"]
        assert len(carbon_findings) == len(carbon)
        assert all("Compliance" not in f and f["RecordState"] == "ACTIVE" for f in carbon_findings)
        for decision in carbon:
            card = client("sagemaker").describe_model_card(ModelCardName=decision.target["model_card"])
            details = json.loads(card["Content"])["additional_information"]["custom_details"]
            assert details["greenrail_carbon_training_job_arn"] == decision.resource
            assert float(details["greenrail_carbon_energy_kwh"]) > 0
        assert emulator.dead_letters == []
    assert any("llm-finetune-idle InProgress (ml.g5.xlarge" in line for line in log)
