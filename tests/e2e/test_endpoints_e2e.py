"""The endpoints policy through the deployed template (the demo's four endpoints), and the scan
contract of ``greenrail scan --policies endpoints --format json`` against an estate it has not seen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from greenrail.aws import client
from greenrail_cli.demo import DEMO_POLICY
from greenrail_cli.demo.endpoints import scenario
from greenrail_cli.emulator import Emulator
from tests.e2e.test_scan_cli import scan

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Any, dict[str, Any]]]:
    """One emulator for the module (starting one takes most of the time): the demo's scenario."""
    with Emulator(DEMO_POLICY) as emulator:
        yield emulator, scenario(emulator, [])


def test_downsized_and_baked_left_alone_rolled_back_and_idle(demo: tuple[Any, dict[str, Any]]) -> None:
    emulator, state = demo
    found: dict[str, list[Any]] = {}
    for decision in emulator.decisions:
        if decision.policy == "endpoints":
            found.setdefault(decision.resource.rsplit("/", 1)[1], []).append(decision)
    # recommender: the same IN_SERVICE event three times -> one workflow, one deployment, baked
    [recommender] = found["recommender-prod"]
    assert recommender.action == "downsize" and recommender.applied and recommender.figures["deployment"] == "succeeded"
    assert recommender.target == {"variant": "AllTraffic", "instance_type": "ml.c5.large", "instance_count": 1}
    assert state["configs"]["recommender-prod"] == recommender.figures["new_endpoint_config"]
    recommender_runs = [x for x in state["workflows"]["recommender-prod"] if "execution" in x]
    assert [x["deployment"] for x in recommender_runs].count("succeeded") == 1
    # the new config's IN_SERVICE started one more evaluation: nothing cheaper fits now
    assert len(recommender_runs) == 2
    # search: every cheaper option misses the SLO -> left alone (not announced), the reason says why
    assert "search-prod" not in found
    [search] = [x for x in state["workflows"]["search-prod"] if x.get("action") == "none"]
    assert "ModelLatency over the limit" in search["reason"] and "near-miss ml.c5.large" in search["reason"]
    # ads: the deployment tripped its alarm -> rolled back by SageMaker, announced, marked
    [ads] = found["ads-prod"]
    assert ads.action == "downsize" and not ads.applied and ads.error == "RolledBack"
    assert "rolled back" in ads.reason and state["configs"]["ads-prod"] == "ads-prod-config"
    tags = client("sagemaker").list_tags(ResourceArn=ads.resource)["Tags"]
    assert "greenrail:endpoints-rolled-back" in {t["Key"] for t in tags}
    # legacy: idle, small CPU model -> flagged for serverless (nothing applied)
    [legacy] = found["legacy-prod"]
    assert legacy.action == "recommend-serverless" and not legacy.applied
    assert emulator.dead_letters == []
    assert any(f["Resources"][0]["Id"] == ads.resource for f in emulator.findings)  # audited


def test_deployment_events_resume_the_workflow_at_once_one_decision_each(demo: tuple[Any, dict[str, Any]]) -> None:
    """SageMaker Endpoint Deployment State Change -> the event function -> SendTaskSuccess: each
    deployment's workflow ended on the event of its last step, not on a poll's timeout."""
    emulator, state = demo
    resumed = {(x["endpoint"], x["step"]) for x in state["resumed"]}
    assert ("recommender-prod", "Baking") in resumed and ("recommender-prod", "IN_SERVICE") in resumed
    assert ("ads-prod", "Deleting") in resumed  # the rollback, as it began
    for name, ended in (("recommender-prod", "succeeded"), ("ads-prod", "rolled-back")):
        [run] = [x for x in state["workflows"][name] if x.get("deployment") == ended]
        assert run["last_wait"] == "event", run
    # events of endpoints no Greenrail workflow waits for resume nothing and change nothing
    deployment_events = [x for x in emulator.runtime.invocations if isinstance(x.event, dict)
                          and x.event.get("detail-type") == "SageMaker Endpoint Deployment State Change"]
    assert all(x.ok for x in deployment_events) and len(deployment_events) > len(state["resumed"])
    # one decision per deployment: the rolled-back one announced once, no second deployment of ads-prod
    ads = [d for d in emulator.decisions if d.resource.endswith("/ads-prod")]
    assert len(ads) == 1 and state["configs"]["ads-prod"] == "ads-prod-config"


@pytest.fixture
def server() -> Iterator[str]:
    from greenrail_cli.emulator.moto_ext import cloudwatch_metrics, sagemaker_endpoints

    sagemaker_endpoints.apply()
    cloudwatch_metrics.apply()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()


def test_scan_contract_one_line_per_production_variant(server: str, tmp_path: Path) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_endpoints as ext

    sm = boto3.client("sagemaker", endpoint_url=server, region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="x")
    role = "arn:aws:iam::123456789012:role/sm"
    for name, kind, variants in (("ranker", "ml.m5.2xlarge", ["a", "b"]), ("ocr", "ml.c5.xlarge", ["AllTraffic"]),
                                 ("asr", "ml.g4dn.xlarge", ["AllTraffic"])):
        sm.create_model(ModelName=f"{name}-m", ExecutionRoleArn=role, PrimaryContainer={"Image": "x"})
        sm.create_endpoint_config(EndpointConfigName=f"{name}-c", ProductionVariants=[
            {"VariantName": v, "ModelName": f"{name}-m", "InitialInstanceCount": 2, "InstanceType": kind}
            for v in variants])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-c")
        for v in variants:
            ext.seed_variant_traffic(name, v, per_minute_invocations=0.0 if name == "asr" else 200.0,
                                     step_minutes=240)
    ext.seed_recommendations_job("ranker-ir", model_name="ranker-m", recommendations=[
        ext.recommendation("ml.c5.xlarge", instance_count=2, max_invocations=2000, model_latency_ms=20)])
    ext.seed_recommendations_job("ocr-ir", model_name="ocr-m", status="IN_PROGRESS",
                                 creation_time=datetime.now(UTC))
    policy = tmp_path / "policy.yaml"
    policy.write_text("endpoints:\n  latency_slo_ms: 60\n")
    result = scan(server, "--policies", "endpoints", "--format", "json", "--all", policy=policy)
    assert result.returncode == 0, result.stderr
    # (this process's moto may still hold the module's demo estate: only this estate's lines count)
    lines = [x for x in map(json.loads, result.stdout.splitlines())
             if x["resource"].rsplit("/", 1)[1] in ("ranker", "ocr", "asr")]
    assert len(lines) == 4  # ranker's two variants, ocr, asr
    by = {(d["resource"].rsplit("/", 1)[1], d["target"].get("variant")): d for d in lines}
    assert by[("ranker", "a")]["action"] == by[("ranker", "b")]["action"] == "downsize"
    assert by[("ranker", "a")]["target"] == {"variant": "a", "instance_type": "ml.c5.xlarge", "instance_count": 2}
    [ocr] = [d for d in lines if d["resource"].endswith("/ocr")]
    assert ocr["action"] == "none" and "IN_PROGRESS" in ocr["reason"]
    [asr] = [d for d in lines if d["resource"].endswith("/asr")]
    assert asr["action"] == "recommend-delete" and asr["target"]["variant"] == "AllTraffic"
    assert all(d["policy"] == "endpoints" and d["mode"] == "dry-run" and not d["applied"] for d in lines)
    # --mode enforce: the downsize deploys (alarms, new config, blue/green), one deployment per
    # endpoint (ranker's second variant waits for the next evaluation); the idle one is not deleted
    enforced = scan(server, "--policies", "endpoints", "--format", "json", "--all", "--mode", "enforce", policy=policy)
    assert enforced.returncode == 0, enforced.stderr
    done = {(d["resource"].rsplit("/", 1)[1], d["target"].get("variant")): d
            for d in map(json.loads, enforced.stdout.splitlines())}
    assert [done[("ranker", v)]["applied"] for v in ("a", "b")] == [True, False]
    assert "EndpointChanged" in done[("ranker", "b")]["reason"] or "Updating" in done[("ranker", "b")]["reason"]
    ranker = sm.describe_endpoint(EndpointName="ranker")
    assert ranker["EndpointStatus"] == "Updating" and ranker["LastDeploymentConfig"]["AutoRollbackConfiguration"]
    alarms = boto3.client("cloudwatch", endpoint_url=server, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x").describe_alarms(AlarmNamePrefix="greenrail-endpoint-ranker-a-")
    assert len(alarms["MetricAlarms"]) == 2
    assert not done[("asr", "AllTraffic")]["applied"] and sm.describe_endpoint(EndpointName="asr")
    # with the delete opt-in: the idle endpoint goes, its config stays (it can be recreated)
    policy.write_text("endpoints:\n  latency_slo_ms: 60\n  allow_delete: true\n")
    deleting = scan(server, "--policies", "endpoints", "--format", "json", "--all", "--mode", "enforce", policy=policy)
    [asr_line] = [d for d in map(json.loads, deleting.stdout.splitlines()) if d["resource"].endswith("/asr")]
    assert asr_line["action"] == "recommend-delete" and asr_line["applied"], asr_line
    assert "asr" not in {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}
    assert sm.describe_endpoint_config(EndpointConfigName="asr-c")["ProductionVariants"]
