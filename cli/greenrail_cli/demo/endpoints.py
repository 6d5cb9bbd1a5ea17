"""The endpoints policy's demo scenario: four real-time endpoints, each announced InService.

* ``recommender-prod``: an ml.m5.4xlarge serving 100 requests a minute; Inference Recommender says an
  ml.c5.large serves 900 a minute at 30 ms: downsized (new config, rollback alarms, a blue/green
  deployment), then baked and InService on the new config.
* ``search-prod``: every cheaper recommendation misses its 50 ms SLO: left alone, the reason
  naming the binding constraint and the best near-miss.
* ``ads-prod``: downsized like recommender, but the new fleet's p99 latency trips the rollback alarm
  during the bake: SageMaker rolls back, the decision says so (``applied: false``) and the
  endpoint is not tried again until its model changes.
* ``legacy-prod``: no invocations for two weeks, small CPU model: flagged ``recommend-serverless``.

The same IN_SERVICE event delivered three times starts one workflow (named from the endpoint's
state). Each step of a deployment Greenrail started (``SageMaker Endpoint Deployment State
Change``: traffic shifting, baking, rolling back, done) resumes the workflow waiting for it at
once (its Task token), which then reads where the deployment stands. The IN_SERVICE event after ads's rollback starts nothing (the same state again); the one
after recommender's deployment evaluates its new config once, and nothing cheaper fits any more.
"""

from __future__ import annotations

from typing import Any

from greenrail.aws import client

ROLE_ARN = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/xgboost-inference:1.7-1"
ENDPOINTS = ("recommender-prod", "search-prod", "ads-prod", "legacy-prod")
TRIPPED = "greenrail-endpoint-ads-prod-AllTraffic-latency"

POLICY = """\
endpoints:
  mode: enforce
  latency_slo_ms: 50
  settle_minutes: 15
  traffic_routing: {type: canary, bake_minutes: 10, termination_wait_minutes: 5}
"""


def _endpoint(name: str, instance_type: str) -> None:
    sagemaker = client("sagemaker")
    sagemaker.create_model(ModelName=f"{name}-model", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"{name}-model", "InitialInstanceCount": 1,
        "InstanceType": instance_type}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


def seed(ext: Any) -> None:
    """The four endpoints, two weeks of their traffic, and their Inference Recommender results."""
    _endpoint("recommender-prod", "ml.m5.4xlarge")
    _endpoint("search-prod", "ml.m5.2xlarge")
    _endpoint("ads-prod", "ml.m5.4xlarge")
    _endpoint("legacy-prod", "ml.c5.large")
    for name in ("recommender-prod", "search-prod", "ads-prod"):
        ext.seed_variant_traffic(name, per_minute_invocations=[60.0, 100.0, 80.0], latency_us=20_000,
                                 p99_latency_us=38_000, step_minutes=180)
    ext.seed_variant_traffic("legacy-prod", per_minute_invocations=0.0, step_minutes=360)
    fits = [ext.recommendation("ml.c5.large", max_invocations=900, model_latency_ms=30),
            ext.recommendation("ml.c5.xlarge", max_invocations=1800, model_latency_ms=24),
            ext.recommendation("ml.m5.4xlarge", max_invocations=6000, model_latency_ms=14)]
    ext.seed_recommendations_job("recommender-prod-ir", model_name="recommender-prod-model", recommendations=fits)
    ext.seed_recommendations_job("ads-prod-ir", model_name="ads-prod-model", recommendations=fits)
    ext.seed_recommendations_job("search-prod-ir", model_name="search-prod-model", recommendations=[
        ext.recommendation("ml.c5.large", max_invocations=700, model_latency_ms=95),
        ext.recommendation("ml.c5.xlarge", max_invocations=1400, model_latency_ms=71),
        ext.recommendation("ml.m5.2xlarge", max_invocations=2400, model_latency_ms=35)])


def _trip_ads_alarm(seconds: int) -> None:
    """What the new fleet's latency would do: ads-prod's rollback alarm goes to ALARM once its
    deployment is under way (CloudWatch in moto evaluates no alarm by itself)."""
    cloudwatch = client("cloudwatch")
    alarms = cloudwatch.describe_alarms(AlarmNames=[TRIPPED])["MetricAlarms"]
    if alarms and alarms[0]["StateValue"] != "ALARM" and \
            client("sagemaker").describe_endpoint(EndpointName="ads-prod")["EndpointStatus"] == "Updating":
        cloudwatch.set_alarm_state(AlarmName=TRIPPED, StateValue="ALARM",
                                   StateReason="Threshold Crossed: p99 ModelLatency 142 ms > 50 ms (canary fleet)")


def workflow_outputs() -> dict[str, list[dict[str, Any]]]:
    """Each rightsizing execution's decisions, by endpoint (the ``none`` ones are not announced)."""
    import json

    sfn = client("stepfunctions")
    found: dict[str, list[dict[str, Any]]] = {}
    for machine in sfn.list_state_machines()["stateMachines"]:
        if "EndpointRightsizing" not in machine["name"]:
            continue
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            output = json.loads(described.get("output") or "{}")
            endpoint = json.loads(described["input"])["endpoint"]
            lines = (output.get("evaluation") or {}).get("result", {}).get("decisions", [])
            final = (output.get("follow") or {})
            found.setdefault(endpoint, []).extend(lines)
            woken = output.get("woken") or {}  # the last wait: resumed by an event, or timed out (polled)
            found[endpoint].append({"execution": described["status"], "deployment": final.get("state"),
                                    "last_wait": woken.get("source") or woken.get("Error")})
    return found


def scenario(emulator: Any, log: list[str]) -> dict[str, Any]:
    from greenrail_cli.emulator.moto_ext import sagemaker_endpoints as ext

    seed(ext)
    log.append("sagemaker: endpoints recommender-prod (ml.m5.4xlarge), search-prod (ml.m5.2xlarge), ads-prod "
               "(ml.m5.4xlarge), legacy-prod (ml.c5.large, idle for 14 days); two weeks of Invocations and "
               "ModelLatency; COMPLETED Inference Recommender jobs for recommender, search and ads")
    emulator.clock.listeners.append(_trip_ads_alarm)
    try:
        for name in ENDPOINTS:
            event = ext.endpoint_state_change_event(name)
            for _ in range(3 if name == "recommender-prod" else 1):
                emulator.deliver(event)
    finally:
        emulator.clock.listeners.remove(_trip_ads_alarm)
    log.append("sagemaker: SageMaker Endpoint State Change (IN_SERVICE) for each, recommender-prod's three times -> "
               "EndpointEventFunction -> one EndpointRightsizingStateMachine execution per endpoint and state")
    sagemaker = client("sagemaker")
    lines = []
    configs = {}
    for name in ENDPOINTS:
        described = sagemaker.describe_endpoint(EndpointName=name)
        config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        variant = config["ProductionVariants"][0]
        configs[name] = described["EndpointConfigName"]
        lines.append(f"{name}: {described['EndpointStatus']} on {described['EndpointConfigName']} "
                     f"({variant['InstanceType']} x{variant['InitialInstanceCount']})"
                     + (f"; {described['FailureReason']}" if described.get("FailureReason") else ""))
    outputs = workflow_outputs()
    for decision in outputs.get("search-prod", []):
        if decision.get("action") == "none":
            lines.append(f"search-prod left alone: {decision['reason']}")
    resumed = [x.result for x in emulator.runtime.invocations
               if isinstance(x.result, dict) and x.result.get("woken") is True]
    log.append(f"sagemaker: SageMaker Endpoint Deployment State Change -> EndpointEventFunction resumed the waiting "
               f"workflow {len(resumed)} times at once ("
               + ", ".join(f"{x['endpoint']} {x['step']}" for x in resumed) + ")")
    log.append(f"stepfunctions: {sum(len([x for x in v if 'execution' in x]) for v in outputs.values())} rightsizing "
               "executions, each to its end (settle, evaluate, deploy, bake or roll back)")
    return {"lines": lines, "configs": configs, "workflows": outputs, "resumed": resumed}
