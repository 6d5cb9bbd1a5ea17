"""The training policy around the training job, on typed inputs, at each rule's edges: tuning jobs,
processing jobs, warm pools, managed spot, data locality; and how the watch reads their events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from greenrail import training_advice, training_processing
from greenrail.decision import Mode
from greenrail.flows.watch import execution_name, parse_start, should_publish, watch_input
from greenrail.policies.training import (
    DataLocalityRule,
    HostUtilization,
    SpotRule,
    TrainingJobSnapshot,
    TrainingPolicy,
    TuningRule,
    decide,
    decide_processing,
)
from greenrail.pricing import training_price
from greenrail.training_advice import InputLocation, advise
from greenrail.training_tuning import Child, TuningSnapshot
from greenrail.training_tuning import decide as decide_tuning

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
POLICY = TrainingPolicy(mode=Mode.ENFORCE)
M5 = training_price("ml.m5.xlarge").usd_per_hour


# ---------------------------------------------------------------- tuning jobs
def tuning(strategy: str = "Random", max_jobs: int | None = 100, early: str = "Off", criteria: bool = False,
           tags: dict[str, str] | None = None, status: str = "InProgress", **config: Any) -> TuningSnapshot:
    described = {
        "HyperParameterTuningJobName": "hpo", "HyperParameterTuningJobStatus": status,
        "HyperParameterTuningJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:hyper-parameter-tuning-job/hpo",
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy, "TrainingJobEarlyStoppingType": early,
            "ResourceLimits": {"MaxParallelTrainingJobs": 2, **({"MaxNumberOfTrainingJobs": max_jobs} if max_jobs else {})},
            **({"TuningJobCompletionCriteria": {"TargetObjectiveMetricValue": 0.9}} if criteria else {}), **config},
        "TrainingJobDefinition": {"ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
                                  "StoppingCondition": {"MaxRuntimeInSeconds": 3600}},
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }
    return TuningSnapshot.from_api(described, ACCOUNT, "us-east-1")


def children(done: int, running: int = 0, hours: float = 1.0) -> list[Child]:
    finished = [Child(name=f"c{i}", status="Completed", start_time=NOW - timedelta(hours=hours + 1),
                      end_time=NOW - timedelta(hours=1)) for i in range(done)]
    return finished + [Child(name=f"r{i}", status="InProgress", start_time=NOW - timedelta(hours=hours))
                       for i in range(running)]


def test_random_search_over_the_threshold_recommends_bayesian_with_estimated_savings() -> None:
    d = decide_tuning(tuning(max_jobs=51, criteria=True, early="Auto"), children(10), False, POLICY, NOW)
    assert d.action == "recommend-bayesian" and d.target == {"Strategy": "Hyperband"}  # early stopping: Hyperband
    assert d.figures["remaining_training_jobs"] == 41 and d.figures["savings_estimated"] is True
    assert d.savings.usd_per_month == pytest.approx(round(0.5 * 41 * M5, 2))
    at_threshold = decide_tuning(tuning(max_jobs=50, criteria=True, early="Auto"), children(10), False, POLICY, NOW)
    assert at_threshold.action == "none" and at_threshold.compliant


def test_bayesian_is_the_target_without_early_stopping_and_grid_counts_its_grid() -> None:
    d = decide_tuning(tuning(max_jobs=60), [], False, POLICY, NOW)
    assert d.action == "recommend-bayesian" and d.target == {"Strategy": "Bayesian"}
    assert d.figures["recommendations"] == ["recommend-bayesian", "recommend-early-stopping",
                                            "recommend-completion-criteria"]
    assert d.figures["cost_per_job_basis"].startswith("upper bound")  # nothing finished yet: MaxRuntime x price
    grid = tuning("Grid", max_jobs=None, ParameterRanges={"CategoricalParameterRanges": [
        {"Name": "a", "Values": ["1", "2", "3", "4", "5", "6", "7", "8"]}, {"Name": "b", "Values": list("abcdefg")}]})
    assert grid.max_jobs == 56 and decide_tuning(grid, [], False, POLICY, NOW).action == "recommend-bayesian"


def test_early_stopping_and_completion_criteria_recommendations() -> None:
    assert decide_tuning(tuning("Bayesian", criteria=True), [], False, POLICY, NOW).action == "recommend-early-stopping"
    hyperband = decide_tuning(tuning("Hyperband"), [], False, POLICY, NOW)
    assert hyperband.action == "recommend-completion-criteria"  # Hyperband stops early by itself
    assert decide_tuning(tuning("Bayesian", early="Auto", criteria=True), [], False, POLICY, NOW).compliant


def test_runaway_tuning_is_stopped_at_the_budget_edges() -> None:
    policy = TrainingPolicy(mode=Mode.ENFORCE, tuning=TuningRule(default_budget_usd=10 * M5))
    job = tuning("Bayesian", early="Auto", criteria=True)
    assert decide_tuning(job, children(10), False, policy, NOW).action == "none"  # exactly the budget: not over
    over = decide_tuning(job, children(11), False, policy, NOW)
    assert over.action == "stop" and over.severity == "HIGH" and "RunawayTuningJob" in over.reason
    assert over.figures["budget_source"] == "policy tuning.default_budget_usd"
    # 9 done + 1 running for an hour = 10 h so far; at the running rate it is over by the next check
    soon = decide_tuning(job, children(9, running=1), False, policy, NOW)
    assert soon.action == "stop" and "by the next check" in soon.reason
    tagged = tuning("Bayesian", early="Auto", criteria=True, tags={"greenrail:budget-usd": "1000"})
    assert decide_tuning(tagged, children(11), False, policy, NOW).action == "none"  # the tag's budget wins
    broken = tuning("Bayesian", early="Auto", criteria=True, tags={"greenrail:budget-usd": "lots"})
    assert decide_tuning(broken, children(11), False, policy, NOW).action == "stop"  # default budget then


def test_tuning_truncated_listing_exempt_and_finished_jobs() -> None:
    d = decide_tuning(tuning(), children(3), True, POLICY, NOW)
    assert d.figures["children_truncated"] and "lower bound" in d.figures["cost_note"]
    assert decide_tuning(tuning(tags={"greenrail:exempt": "true"}), [], False, POLICY, NOW).figures["exempt"]
    assert decide_tuning(tuning(status="Completed"), [], False, POLICY, NOW).action == "none"
    assert decide_tuning(tuning(), [], False, POLICY, NOW, Mode.OFF).action == "none"


# ---------------------------------------------------------------- warm pools, spot, locality
def job(**kw: Any) -> TrainingJobSnapshot:
    fields: dict[str, Any] = {
        "name": "job", "arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/job", "status": "InProgress",
        "instance_type": "ml.m5.xlarge", "start_time": NOW - timedelta(hours=2), "elapsed_seconds": 7200,
        "account": ACCOUNT, "region": "us-east-1", "max_runtime_seconds": 4 * 3600,
    }
    fields.update(kw)
    return TrainingJobSnapshot(**fields)


def judged(j: TrainingJobSnapshot, locations: list[InputLocation] | None = None, policy: TrainingPolicy = POLICY):
    price = training_price(j.instance_type)
    return advise(decide(j, [], policy, NOW, price), j, policy, NOW, price, locations)


def warm(minutes: float, status: str = "Available") -> TrainingJobSnapshot:
    return job(status="Completed", end_time=NOW - timedelta(minutes=minutes), warm_pool_status=status,
               keep_alive_seconds=3600)


def test_a_warm_pool_available_too_long_is_released() -> None:
    d = judged(warm(31))
    assert d.action == "release-warm-pool" and d.target == {"KeepAlivePeriodInSeconds": 0} and not d.compliant
    assert d.savings.usd_per_month == pytest.approx(round(29 / 60 * M5, 2))  # the rest of the keep-alive
    assert judged(warm(30)).action == "none"  # exactly the maximum
    assert judged(warm(45, "Reused")).action == "none" and judged(warm(45, "Terminated")).action == "none"
    assert judged(warm(45).model_copy(update={"tags": {"greenrail:exempt": "true"}})).action == "none"


def test_spot_is_recommended_for_long_checkpointed_on_demand_jobs() -> None:
    d = judged(job(checkpointing=True))
    assert d.action == "recommend-spot" and d.figures["spot_savings_estimated"] is True
    assert d.savings.usd_per_month == pytest.approx(round(2 * M5 * 0.6, 2))  # 2 h remaining x 60 %
    assert judged(job(checkpointing=True, elapsed_seconds=3600)).action == "none"  # exactly the minimum
    assert judged(job(checkpointing=True, spot=True)).action == "none"
    assert judged(job()).action == "none"  # no checkpoints: an interruption would lose the work
    policy = TrainingPolicy(spot=SpotRule(min_runtime_minutes=200))
    assert judged(job(checkpointing=True), policy=policy).action == "none"


def test_a_cross_region_input_recommends_colocating_with_its_transfer_cost() -> None:
    remote = InputLocation(uri="s3://eu-data/train/", bucket="eu-data", bucket_region="eu-west-1",
                           bytes=50 * 10**9, objects=500)
    d = judged(job(), [remote])
    assert d.action == "recommend-colocate" and d.figures["bytes_read"] == 50 * 10**9
    assert d.savings.usd_per_month == pytest.approx(50 * training_advice.INTER_REGION_USD_PER_GB)
    assert "source" not in d.figures or d.figures["transfer_price_source"]
    big = judged(job(), [remote.model_copy(update={"truncated": True})])
    assert big.figures["bytes_read_at_least"] and "at least" in big.reason
    local = InputLocation(uri="s3://us-data/x", bucket="us-data", bucket_region="us-east-1")
    assert judged(job(), [local]).action == "none"
    off = TrainingPolicy(data_locality=DataLocalityRule(enabled=False))
    assert judged(job(), [remote], policy=off).action == "none"
    both = judged(job(checkpointing=True), [remote])  # one decision: spot first, colocate listed
    assert both.action == "recommend-spot" and both.figures["recommendations"] == ["recommend-spot",
                                                                                   "recommend-colocate"]


def test_a_stop_outranks_the_advice() -> None:
    over = job(checkpointing=True, elapsed_seconds=80 * 3600, start_time=NOW - timedelta(hours=80),
               max_runtime_seconds=100 * 3600)
    assert judged(over).action == "stop"


# ---------------------------------------------------------------- processing jobs
def processing(status: str = "InProgress", hours: float = 3.0, **extra: Any) -> dict[str, Any]:
    return {
        "ProcessingJobName": "features", "ProcessingJobStatus": status,
        "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:processing-job/features",
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}},
        "ProcessingStartTime": NOW - timedelta(hours=hours), "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        **extra,
    }


def cpu(host: str, raw: float) -> HostUtilization:
    stamps = [NOW - timedelta(seconds=s) for s in range(0, 3600, 300)]
    return HostUtilization(host=host, metric="CPUUtilization", timestamps=stamps, values=[raw] * len(stamps))


def test_an_idle_processing_job_is_stopped_per_host_and_a_monitoring_execution_never() -> None:
    described = processing()
    snap = TrainingJobSnapshot(**training_processing.snapshot_fields(described, NOW, {}))
    assert snap.kind == "processing" and snap.hosts == ["features/algo-1", "features/algo-2"]
    idle = [cpu("features/algo-1", 4.0), cpu("features/algo-2", 4.0)]  # 4 vCPUs: 1 % each
    d = decide_processing(described, snap, idle, POLICY, NOW)
    assert d.action == "stop" and d.figures["findings"] == ["IdleProcessingJob"] and d.resource == snap.arn
    one_busy = [cpu("features/algo-1", 4.0), cpu("features/algo-2", 200.0)]
    assert decide_processing(described, snap, one_busy, POLICY, NOW).action == "none"
    assert "insufficient data" in decide_processing(described, snap, [], POLICY, NOW).reason  # no metrics
    monitored = processing(MonitoringScheduleArn=f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:monitoring-schedule/s")
    m = decide_processing(monitored, snap, idle, POLICY, NOW)
    assert m.action == "none" and m.compliant and "never stopped" in m.reason


# ---------------------------------------------------------------- the watch's side
def sample(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


def test_the_watch_reads_tuning_and_processing_events() -> None:
    tuning_detail = parse_start(sample("sagemaker-tuning-job-inprogress.json"))
    assert tuning_detail.kind == "tuning" and tuning_detail.TrainingJobStatus == "InProgress"
    assert execution_name(tuning_detail.TrainingJobName, kind="tuning") == "tuning-xgb-random-search"
    processing_detail = parse_start(sample("sagemaker-processing-job-inprogress.json"))
    assert processing_detail.kind == "processing"
    monitoring = parse_start(sample("nearmiss/sagemaker-processing-job-monitoring-inprogress.json"))
    assert monitoring.TrainingJobStatus == "Monitoring"  # never watched
    training_detail = parse_start(sample("sagemaker-training-job-inprogress.json"))
    with_pool = training_detail.model_copy(update={"ResourceConfig": {"KeepAlivePeriodInSeconds": 3600}})
    assert watch_input(with_pool, 15)["max_iterations"] == watch_input(training_detail, 15)["max_iterations"] + 4


def test_recommendations_are_announced_once_and_closed_when_gone() -> None:
    d = judged(job(checkpointing=True))
    assert should_publish(d, "none") and not should_publish(d, "recommend-spot")
    assert should_publish(d, "stop")
    compliant = judged(job(status="Completed"))
    assert should_publish(compliant, "recommend-spot") and not should_publish(compliant, "none")


def test_an_event_naming_another_kind_of_job_is_malformed() -> None:
    from pydantic import ValidationError

    forged = sample("sagemaker-training-job-inprogress.json")
    forged["detail"]["TrainingJobArn"] = forged["detail"]["TrainingJobArn"].replace("training-job/", "processing-job/")
    with pytest.raises(ValidationError):
        parse_start(forged)
    tuning_event = sample("sagemaker-tuning-job-inprogress.json")
    tuning_event["detail"]["HyperParameterTuningJobArn"] = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/x"
    with pytest.raises(ValidationError):
        parse_start(tuning_event)


def test_member_accounts_forward_tuning_and_processing_jobs_but_no_model_monitor_execution() -> None:
    from moto.events.models import EventPattern

    from greenrail_cli.emulator.deploy import load_template

    member = load_template(ROOT / "org" / "member-account.yaml")["Resources"]
    pattern = EventPattern.load(json.dumps(member["ForwardJobsRule"]["Properties"]["EventPattern"]))
    assert pattern.matches_event(sample("sagemaker-tuning-job-inprogress.json"))
    assert pattern.matches_event(sample("sagemaker-processing-job-inprogress.json"))
    assert not pattern.matches_event(sample("nearmiss/sagemaker-processing-job-monitoring-inprogress.json"))
    assert not pattern.matches_event(sample("sagemaker-training-job-inprogress.json"))  # the ForwardRule's


def test_only_prefix_channels_are_located() -> None:
    described = {
        "TrainingJobName": "j", "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/j",
        "TrainingJobStatus": "InProgress", "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://a/x/"}}},
            {"ChannelName": "m", "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}},
            {"ChannelName": "fs", "DataSource": {"FileSystemDataSource": {"FileSystemId": "fs-1"}}},
        ],
        "CheckpointConfig": {"S3Uri": "s3://c/ckpt/"},
    }
    snap = TrainingJobSnapshot.from_api(described, NOW, ACCOUNT, "us-east-1")
    assert snap.input_uris == ["s3://a/x/"] and snap.checkpointing
