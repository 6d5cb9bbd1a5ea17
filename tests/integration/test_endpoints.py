"""The endpoints policy against moto and the emulator's SageMaker extensions: the scan, the
workflow's steps (evaluate, poll-job, follow), faults, rollback, and GetMetricData batching.

One moto world per module (endpoints have distinct names per test); deployments and jobs move on
the emulator's clock, never by sleeping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws
from greenrail.decision import Mode
from greenrail.flows import endpoints as flow
from greenrail.policies.endpoints import EndpointsPolicy, scan

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
IR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/inference-recommender"
# five days of load keep moto's per-minute GetMetricData quick (the default lookback is 14)
ENFORCE = EndpointsPolicy(mode=Mode.ENFORCE, latency_slo_ms=50, lookback_days=5, idle_days=3,
                          traffic_routing={"bake_minutes": 10, "termination_wait_minutes": 5})


@pytest.fixture(scope="module")
def world() -> Iterator[Any]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                            "GREENRAIL_STATE_TABLE", "GREENRAIL_ACCOUNT_ID")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
                      GREENRAIL_ACCOUNT_ID=ACCOUNT)
    os.environ.pop("GREENRAIL_STATE_TABLE", None)
    from greenrail_cli.emulator.clock import Clock
    from greenrail_cli.emulator.moto_ext import cloudwatch_metrics, hooks, sagemaker_endpoints

    with mock_aws():
        sagemaker_endpoints.apply()
        cloudwatch_metrics.apply()
        previous, hooks.clock = hooks.clock, Clock()
        aws.reset_clients()
        boto3.client("events", region_name=REGION).create_event_bus(Name="greenrail")
        try:
            yield sagemaker_endpoints
        finally:
            hooks.clock = previous
            aws.reset_clients()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def sm() -> Any:
    return boto3.client("sagemaker", region_name=REGION)


def endpoint(ext: Any, name: str, kind: str = "ml.m5.4xlarge", count: int = 1, recs: list[dict[str, Any]] | None = None,
             traffic: float | list[float] | None = 100.0, job_status: str = "COMPLETED", variants: int = 1,
             data_capture: bool = False, **job: Any) -> None:
    """An endpoint, its model, its traffic over 14 days and its newest Inference Recommender job."""
    sagemaker = sm()
    sagemaker.create_model(ModelName=f"{name}-model", ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"})
    config: dict[str, Any] = {"EndpointConfigName": f"{name}-config", "ProductionVariants": [
        {"VariantName": f"v{i}" if variants > 1 else "AllTraffic", "ModelName": f"{name}-model",
         "InitialInstanceCount": count, "InstanceType": kind, "InitialVariantWeight": 1.0} for i in range(variants)]}
    if data_capture:
        config["DataCaptureConfig"] = {"EnableCapture": True, "InitialSamplingPercentage": 10,
                                       "DestinationS3Uri": "s3://capture/x", "CaptureOptions": [{"CaptureMode": "Input"}]}
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    if traffic is not None:
        for i in range(variants):
            ext.seed_variant_traffic(name, f"v{i}" if variants > 1 else "AllTraffic", per_minute_invocations=traffic,
                                     latency_us=20_000, p99_latency_us=40_000, step_minutes=180, days=5)
    if recs is not None or job_status != "COMPLETED":
        ext.seed_recommendations_job(f"{name}-ir", model_name=f"{name}-model", status=job_status,
                                     recommendations=recs or [], **job)


def fits(ext: Any) -> list[dict[str, Any]]:
    return [ext.recommendation("ml.c5.large", max_invocations=900, model_latency_ms=30),
            ext.recommendation("ml.c5.xlarge", max_invocations=1800, model_latency_ms=25),
            ext.recommendation("ml.m5.4xlarge", max_invocations=6000, model_latency_ms=15, memory_utilization=5.0)]


def once_recorder() -> tuple[list[dict[str, Any]], Any]:
    seen: list[dict[str, Any]] = []

    def once(subject: dict[str, Any], work: Any) -> Any:
        seen.append(subject)
        return work()

    return seen, once


def advance(ext: Any, seconds: int) -> None:
    from greenrail_cli.emulator.moto_ext import hooks

    assert hooks.clock is not None
    hooks.clock.advance(seconds)
    ext.progress()


def by_resource(decisions: list[Any], name: str) -> list[Any]:
    return [d for d in decisions if d.resource.endswith(f":endpoint/{name}")]


# ---------------------------------------------------------------- scan
def test_scan_gives_one_line_per_production_variant(world: Any) -> None:
    endpoint(world, "scan-big", recs=fits(world))
    endpoint(world, "scan-slow", recs=[world.recommendation("ml.c5.large", model_latency_ms=80),
                                       world.recommendation("ml.c5.xlarge", model_latency_ms=70)])
    endpoint(world, "scan-idle", kind="ml.c5.large", traffic=0.0)
    endpoint(world, "scan-two", variants=2, recs=fits(world))
    endpoint(world, "scan-failed", job_status="FAILED", failure_reason="model container crashed")
    endpoint(world, "scan-nan", recs=[world.recommendation("ml.c5.large", cost_per_hour=float("nan")),
                                      world.recommendation("ml.c5.xlarge", max_invocations=None),
                                      world.recommendation("ml.m5.large", model_latency_ms=float("nan")),
                                      world.recommendation("ml.m5.xlarge", model_latency_ms=None)])
    # a NaN or missing ModelLatency is skipped, the one usable recommendation chosen
    endpoint(world, "scan-nanlat", recs=[world.recommendation("ml.c5.large", model_latency_ms=float("nan")),
                                         world.recommendation("ml.c5.xlarge", max_invocations=1800, model_latency_ms=25)])
    decisions = scan(ENFORCE.model_copy(update={"mode": Mode.DRY_RUN}), Mode.DRY_RUN, datetime.now(UTC))
    [big] = by_resource(decisions, "scan-big")
    assert big.action == "downsize" and not big.applied
    assert big.target == {"variant": "AllTraffic", "instance_type": "ml.c5.large", "instance_count": 1}
    assert big.savings.usd_per_month == pytest.approx((0.922 - 0.102) * 730, abs=0.05)
    [slow] = by_resource(decisions, "scan-slow")
    assert slow.action == "none" and "ModelLatency over the limit" in slow.reason and "near-miss" in slow.reason
    [idle] = by_resource(decisions, "scan-idle")
    assert idle.action == "recommend-serverless" and idle.target["memory_size_mb"] == 4096
    assert sorted(d.target["variant"] for d in by_resource(decisions, "scan-two")) == ["v0", "v1"]
    [failed] = by_resource(decisions, "scan-failed")
    assert failed.action == "none" and "FAILED (model container crashed)" in failed.reason
    [nan] = by_resource(decisions, "scan-nan")
    assert nan.action == "none" and "lack a metric" in nan.reason
    assert nan.figures["selection"]["skipped_missing_metrics"] == 4
    [nanlat] = by_resource(decisions, "scan-nanlat")
    assert nanlat.action == "downsize" and nanlat.target["instance_type"] == "ml.c5.xlarge"
    lines = [d.scan_line() for d in decisions]
    assert all(line["policy"] == "endpoints" and line["resource"].startswith("arn:aws:sagemaker:") for line in lines)


def test_metrics_are_read_in_batches_not_per_endpoint(world: Any) -> None:
    """Every variant's Invocations and ModelLatency in two GetMetricData calls, however many endpoints."""
    from greenrail.policies.endpoints import load_endpoint, read_loads

    for i in range(6):
        endpoint(world, f"batch-{i}", traffic=50.0)
    calls: list[str] = []
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.meta.events.register("before-call.cloudwatch.GetMetricData", lambda **kw: calls.append("x"))
    now = datetime.now(UTC)
    variants = [v for i in range(6) for v in load_endpoint(f"batch-{i}", now, with_recommendations=False)]
    loads = read_loads(variants, ENFORCE, now)
    assert len(calls) == 2 and len(loads) == 6
    assert all(load.peak_per_minute == 50.0 and load.p99_latency_ms == 40.0 for load in loads.values())


# ---------------------------------------------------------------- the workflow's steps
def test_enforce_deploys_blue_green_and_the_deployment_bakes(world: Any) -> None:
    endpoint(world, "wf-bake", recs=fits(world), data_capture=True)
    seen, once = once_recorder()
    result = flow.evaluate("wf-bake", ACCOUNT, ENFORCE, datetime.now(UTC), once, "exec-bake")
    assert result["next"] == "deploying" and not seen  # announced when the deployment ends
    deployment = result["deployment"]
    described = sm().describe_endpoint(EndpointName="wf-bake")
    assert described["EndpointStatus"] == "Updating"
    new = sm().describe_endpoint_config(EndpointConfigName=deployment["new_config"])
    assert new["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert new["ProductionVariants"][0]["InstanceType"] == "ml.c5.large"
    assert new["DataCaptureConfig"]["EnableCapture"] is True  # everything else copied
    config_tags = sm().list_tags(ResourceArn=new["EndpointConfigArn"])["Tags"]
    assert {"Key": "greenrail:policy", "Value": "endpoints"} in config_tags
    alarms = boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNamePrefix="greenrail-endpoint-wf-bake")
    assert {a["MetricName"] for a in alarms["MetricAlarms"]} == {"ModelLatency", "Invocation5XXErrors"}
    last = described.get("LastDeploymentConfig") or {}
    # one new instance: no canary of at most half the fleet is possible, so all at once, then baked
    assert last["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE",
                                                                            "WaitIntervalInSeconds": 600}
    assert sorted(a["AlarmName"] for a in last["AutoRollbackConfiguration"]["Alarms"]) == sorted(
        a["AlarmName"] for a in alarms["MetricAlarms"])
    assert flow.follow("wf-bake", ACCOUNT, deployment, 1, 50, "exec-bake", once)["done"] is False
    advance(world, 3600)
    followed = flow.follow("wf-bake", ACCOUNT, deployment, 2, 50, "exec-bake", once)
    assert followed["done"] and followed["state"] == "succeeded"
    assert followed["decision"]["applied"] is True and followed["decision"]["action"] == "downsize"
    assert sm().describe_endpoint(EndpointName="wf-bake")["EndpointConfigName"] == deployment["new_config"]
    assert [s["action"] for s in seen] == ["downsize"]


def test_a_rollback_is_its_own_decision_and_the_model_is_not_tried_again(world: Any) -> None:
    endpoint(world, "wf-rollback", recs=fits(world))
    _, once = once_recorder()
    deployment = flow.evaluate("wf-rollback", ACCOUNT, ENFORCE, datetime.now(UTC), once, "exec-rb")["deployment"]
    advance(world, 400)  # the new fleet is up, the canary takes traffic
    boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
        AlarmName="greenrail-endpoint-wf-rollback-AllTraffic-latency", StateValue="ALARM",
        StateReason="p99 ModelLatency 140 ms > 50 ms")
    advance(world, 600)
    followed = flow.follow("wf-rollback", ACCOUNT, deployment, 3, 50, "exec-rb", once)
    assert followed["state"] == "rolled-back"
    decision = followed["decision"]
    assert decision["applied"] is False and "rolled back" in decision["reason"] and "ALARM" in decision["reason"]
    assert sm().describe_endpoint(EndpointName="wf-rollback")["EndpointConfigName"] == "wf-rollback-config"
    again = flow.evaluate("wf-rollback", ACCOUNT, ENFORCE, datetime.now(UTC), once, "exec-rb-2")
    assert again["next"] == "done" and "not tried again until the model changes" in again["decisions"][0]["reason"]


@pytest.mark.parametrize("code", ["ResourceLimitExceeded", "ValidationException"])
def test_update_endpoint_refused_ends_in_one_decision_that_says_why(world: Any, code: str) -> None:
    name = f"wf-refused-{code[:5].lower()}"
    endpoint(world, name, recs=fits(world))
    world.fail_next_updates(name, code=code, message="refused for the test")
    seen, once = once_recorder()
    result = flow.evaluate(name, ACCOUNT, ENFORCE, datetime.now(UTC), once, f"exec-{name}")
    assert result["next"] == "done"
    [decision] = result["decisions"]
    assert decision["action"] == "downsize" and decision["applied"] is False and code in decision["reason"]
    assert sm().describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    assert len(seen) == 1


def test_endpoint_updated_or_deleted_by_someone_else_is_left_alone(world: Any) -> None:
    from greenrail.policies.endpoints import apply, assess
    from greenrail.state import BlastRadius

    endpoint(world, "wf-theirs", recs=fits(world))
    endpoint(world, "wf-gone", recs=fits(world))
    blast = BlastRadius("endpoints", 10, table="")
    [(theirs, decision)] = assess(["wf-theirs"], ENFORCE, Mode.ENFORCE, datetime.now(UTC))
    sm().create_endpoint_config(EndpointConfigName="their-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "wf-theirs-model", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.xlarge"}])
    sm().update_endpoint(EndpointName="wf-theirs", EndpointConfigName="their-config")
    outcome = apply(decision, theirs, ENFORCE, blast)
    assert not outcome.applied and outcome.error == "EndpointChanged"
    [(gone, decision)] = assess(["wf-gone"], ENFORCE, Mode.ENFORCE, datetime.now(UTC))
    sm().delete_endpoint(EndpointName="wf-gone")
    assert apply(decision, gone, ENFORCE, blast).error == "EndpointDeleted"
    _, once = once_recorder()
    assert flow.evaluate("wf-gone", ACCOUNT, ENFORCE, datetime.now(UTC), once, "x")["next"] == "done"


def test_deleted_during_its_deployment(world: Any) -> None:
    endpoint(world, "wf-deleted", recs=fits(world))
    _, once = once_recorder()
    deployment = flow.evaluate("wf-deleted", ACCOUNT, ENFORCE, datetime.now(UTC), once, "exec-del")["deployment"]
    sm().delete_endpoint(EndpointName="wf-deleted")
    followed = flow.follow("wf-deleted", ACCOUNT, deployment, 1, 50, "exec-del", once)
    assert followed["state"] == "gone" and followed["decision"]["applied"] is False


def test_a_job_the_policy_started_is_polled_and_waited_for_bounded(world: Any) -> None:
    policy = ENFORCE.model_copy(update={"allow_start_recommendation_job": True, "recommendation_job_role_arn": IR_ROLE})
    endpoint(world, "wf-job")
    world.seed_recommendation_catalogue("wf-job-model", fits(world))
    _, once = once_recorder()
    started = flow.evaluate("wf-job", ACCOUNT, policy, datetime.now(UTC), once, "exec-job")
    assert started["next"] == "wait-job"
    assert flow.poll_job(started["job"], ACCOUNT) == {"done": False, "status": "IN_PROGRESS"}
    advance(world, 46 * 60)
    assert flow.poll_job(started["job"], ACCOUNT) == {"done": True, "status": "COMPLETED"}
    after = flow.evaluate("wf-job", ACCOUNT, policy, datetime.now(UTC), once, "exec-job", waited=True)
    assert after["next"] == "deploying"


def test_a_job_that_fails_or_never_finishes_changes_nothing(world: Any) -> None:
    policy = ENFORCE.model_copy(update={"allow_start_recommendation_job": True, "recommendation_job_role_arn": IR_ROLE})
    endpoint(world, "wf-stuck")
    world.seed_recommendation_catalogue("wf-stuck-model", fits(world), duration_seconds=10**9)
    _, once = once_recorder()
    started = flow.evaluate("wf-stuck", ACCOUNT, policy, datetime.now(UTC), once, "exec-stuck")
    gave_up = flow.evaluate("wf-stuck", ACCOUNT, policy, datetime.now(UTC), once, "exec-stuck", gave_up=True)
    assert started["next"] == "wait-job" and gave_up["next"] == "done"
    assert "still IN_PROGRESS after the policy's wait" in gave_up["decisions"][0]["reason"]
    endpoint(world, "wf-broken")
    world.seed_recommendation_catalogue("wf-broken-model", failure_reason="benchmark endpoint failed", duration_seconds=60)
    job = flow.evaluate("wf-broken", ACCOUNT, policy, datetime.now(UTC), once, "exec-broken")["job"]
    advance(world, 120)
    assert flow.poll_job(job, ACCOUNT) == {"done": True, "status": "FAILED"}
    after = flow.evaluate("wf-broken", ACCOUNT, policy, datetime.now(UTC), once, "exec-broken", waited=True)
    assert after["next"] == "done" and "FAILED (benchmark endpoint failed)" in after["decisions"][0]["reason"]


def test_execution_names_one_per_endpoint_state() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    name = flow.execution_name(ACCOUNT, "churn", "churn-config", now)
    assert name != flow.execution_name(ACCOUNT, "churn", "churn-config", now.replace(day=23))  # the week before
    assert name == flow.execution_name(ACCOUNT, "churn", "churn-config", now.replace(hour=23))
    assert name != flow.execution_name(ACCOUNT, "churn", "churn-config-greenrail-1", now)
    assert name != flow.execution_name("210987654321", "churn", "churn-config", now)
    assert len(flow.execution_name(ACCOUNT, "x" * 63, "c", now)) <= 80


# ---------------------------------------------------------------- the starter's handler
def test_the_same_event_three_times_starts_one_workflow(world: Any, tmp_path: Any, monkeypatch: Any) -> None:
    import json
    from pathlib import Path

    from tests.conftest import Context, load_function

    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="rightsizing", roleArn=ROLE,
        definition=(Path(__file__).resolve().parents[2] / "statemachines" / "endpoint_rightsizing.asl.json").read_text(),
    )["stateMachineArn"]
    policy = tmp_path / "policy.yaml"
    policy.write_text("endpoints:\n  mode: enforce\n")
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(policy))
    monkeypatch.setenv("GREENRAIL_ENDPOINT_RIGHTSIZING_ARN", machine)
    handler = load_function("endpoint_event").handler
    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "sagemaker-endpoint-in-service.json").read_text())
    results = [handler(event, Context()) for _ in range(3)]
    # StartExecution with a running execution's name and input answers that execution (AWS and moto)
    assert len({r["execution_arn"] for r in results}) == 1
    resent = json.loads(json.dumps(event))
    resent["id"] = "another-delivery-of-the-same-change"  # SageMaker may send one change twice
    assert handler(resent, Context()) == {"started": False, "reason": "already evaluated or being evaluated",
                                          "execution_name": results[0]["execution_name"]}
    updating = json.loads(json.dumps(event))
    updating["detail"]["EndpointStatus"] = "UPDATING"
    assert handler(updating, Context())["started"] is False
    assert handler({"source": "aws.sagemaker", "detail": {"EndpointName": "../x"}}, Context())["started"] is False
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
    payload = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert payload["endpoint"] == "recommender-prod" and payload["settle_seconds"] == 15 * 60
    endpoint(world, "sweep-me", traffic=None)
    assert "sweep-me" in handler({"sweep": True}, Context())["started"]
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    handler({"sweep": True}, Context())
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before  # this week's exist already


def test_a_step_that_failed_after_its_retries_ends_in_a_decision(world: Any) -> None:
    seen, once = once_recorder()
    result = flow.failed("wf-any", ACCOUNT, {"Error": "States.Timeout", "Cause": "the task timed out"}, "exec-f", once)
    decision = result["decision"]
    assert decision["action"] == "none" and "failed (States.Timeout)" in decision["reason"]
    assert decision["resource"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/wf-any"
    assert [s["error"] for s in seen] == ["States.Timeout"]  # announced once


# ---------------------------------------------------------------- following a deployment by its events
def test_a_deployment_event_takes_the_waiting_token_once(world: Any, monkeypatch: Any) -> None:
    """The await step keeps the Task token; the endpoint's deployment event takes it (once) and
    resumes the workflow; another endpoint's event, a repeat, or a malformed event take nothing."""
    import json
    from pathlib import Path

    from tests.conftest import Context, load_function

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(TableName="ep-state", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    monkeypatch.setenv("GREENRAIL_STATE_TABLE", "ep-state")
    monkeypatch.setenv("GREENRAIL_ENDPOINT_RIGHTSIZING_ARN", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:x")
    assert flow.await_deployment("Wake-Me", ACCOUNT, "token-1", 300) == {"waiting": True}
    [item] = dynamodb.scan(TableName="ep-state")["Items"]
    assert item["token"]["S"] == "token-1" and item["id"]["S"].endswith(f"{ACCOUNT}:{REGION}:wake-me")
    handler = load_function("endpoint_event").handler
    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "sagemaker-endpoint-deployment-baking.json")
                       .read_text())
    other = json.loads(json.dumps(event).replace("recommender-prod", "someone-elses"))
    assert handler(other, Context())["woken"] is False and dynamodb.scan(TableName="ep-state")["Count"] == 1
    mine = json.loads(json.dumps(event).replace("recommender-prod", "wake-me"))
    first = handler(mine, Context())
    assert first == {"woken": True, "endpoint": "wake-me", "step": "Baking"}  # SendTaskSuccess with token-1
    assert dynamodb.scan(TableName="ep-state")["Count"] == 0
    assert handler(mine, Context())["reason"] == "no Greenrail deployment of this endpoint is waiting"
    broken = json.loads(json.dumps(mine))
    broken["detail"]["EndpointArn"] = "arn:aws:sagemaker:us-east-1:1234:endpoint/wake-me"
    assert handler(broken, Context()) == {"started": False, "reason": "malformed or foreign event"}


def test_the_weekly_sweep_reads_every_load_in_batches_and_hands_it_on(world: Any, monkeypatch: Any) -> None:
    """Two GetMetricData calls for the whole account, however many endpoints; each workflow gets
    its variants' load and its evaluate reads CloudWatch no more."""
    import json

    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(name="rightsizing-sweep", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "x", "States": {"x": {"Type": "Succeed"}}}))["stateMachineArn"]
    for i in range(3):
        endpoint(world, f"swept-{i}", recs=fits(world), traffic=70.0 + i)
    calls: list[str] = []
    aws.client("cloudwatch").meta.events.register("before-call.cloudwatch.GetMetricData",
                                                  lambda **kw: calls.append("x"))
    report = flow.sweep(ENFORCE, machine, ACCOUNT, datetime.now(UTC))
    assert {f"swept-{i}" for i in range(3)} <= set(report["started"]) and len(calls) == 2
    inputs = {json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["endpoint"]:
              json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
              for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    given = flow.TaskInput.model_validate({**inputs["swept-1"], "step": "evaluate", "execution": "x"}).loads
    assert given is not None and given["AllTraffic"].peak_per_minute == 71.0
    calls.clear()
    _, once = once_recorder()
    result = flow.evaluate("swept-1", ACCOUNT, ENFORCE.model_copy(update={"mode": Mode.DRY_RUN}), datetime.now(UTC),
                           once, "exec-swept", loads=given)
    assert calls == [] and result["decisions"][0]["action"] == "downsize"
