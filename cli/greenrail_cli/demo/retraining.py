"""The retraining policy's demo scenario: three models behind three endpoints.

* ``churn-prod``: its drift score (CloudWatch, as Evidently or any monitor would publish it) is
  over its threshold AND its AUC fell under 0.80: retraining scheduled into the lowest-carbon
  hour of the next 24 (the demo's us-east-1 profile), then started by EventBridge Scheduler when
  the emulator's clock gets there; the drift alarm firing afterwards changes nothing.
* ``fraud-prod``: drifted too, but its AUC is healthy: held, with the compute one run would
  have used (its pipeline's last successful run) avoided.
* ``ranker-prod``: Model Monitor (the data-quality schedule's latest execution
  ``CompletedWithViolations``) AND a KPI drop, but its pipeline ran two days ago: held by the
  cool-down.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from greenrail.aws import client

ROLE_ARN = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
MODELS = ("churn", "fraud", "ranker")

POLICY = """\
retraining:
  mode: enforce
  cooldown_days: 7
  max_delay_hours: 24
  window:
    source: profile
    profiles:   # gCO2e/kWh per UTC hour: the PJM grid is cleanest around midday in this profile
      us-east-1: [420, 410, 400, 395, 390, 392, 400, 415, 430, 420, 400, 380,
                  360, 345, 350, 365, 385, 410, 440, 455, 450, 445, 435, 425]
  models:
    - endpoint: churn-prod
      pipeline: churn-retrain
      pipeline_parameters: {TrainingInstanceType: ml.g5.xlarge}
      drift: {namespace: Custom/Drift, metric_name: drift_score, dimensions: {Endpoint: churn-prod},
              statistic: Maximum, threshold: 0.3}
      kpi: {namespace: Custom/ModelQuality, metric_name: auc, dimensions: {Endpoint: churn-prod}, threshold: 0.80}
    - endpoint: fraud-prod
      pipeline: fraud-retrain
      drift: {namespace: Custom/Drift, metric_name: drift_score, dimensions: {Endpoint: fraud-prod},
              statistic: Maximum, threshold: 0.3}
      kpi: {namespace: Custom/ModelQuality, metric_name: auc, dimensions: {Endpoint: fraud-prod}, threshold: 0.80}
    - endpoint: ranker-prod
      pipeline: ranker-retrain
      drift: {source: model-monitor, schedule: ranker-prod-data-quality, min_violations: 1}
      kpi: {namespace: Custom/ModelQuality, metric_name: ndcg, dimensions: {Endpoint: ranker-prod}, threshold: 0.70}
"""


def _endpoint(name: str) -> None:
    sagemaker = client("sagemaker")
    sagemaker.create_model(ModelName=f"{name}-model", ExecutionRoleArn=ROLE_ARN,
                           PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"{name}-model", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=f"{name}-prod", EndpointConfigName=f"{name}-config")


def _metric(namespace: str, name: str, endpoint: str, value: float) -> None:
    client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": name, "Dimensions": [{"Name": "Endpoint", "Value": endpoint}], "Value": value,
        "Timestamp": datetime.now(UTC) - timedelta(minutes=30)}])


def scenario(emulator: Any, log: list[str]) -> dict[str, Any]:
    from greenrail_cli.emulator.moto_ext import sagemaker_monitoring, sagemaker_pipelines

    now = datetime.now(UTC)
    for name in MODELS:
        _endpoint(name)
        sagemaker_pipelines.ensure_pipeline(f"{name}-retrain", role_arn=ROLE_ARN)
    # fraud's last successful run: the compute a needless retraining would spend again
    fraud_run = sagemaker_pipelines.seed_pipeline_execution("fraud-retrain", start_time=now - timedelta(days=30),
                                                            end_time=now - timedelta(days=30) + timedelta(hours=3))
    sagemaker_pipelines.seed_training_step(fraud_run, "fraud-train-2026-10-31", instance_type="ml.p3.2xlarge",
                                           instance_count=2, training_seconds=3 * 3600)
    # ranker ran two days ago: inside its 7-day cool-down
    sagemaker_pipelines.seed_pipeline_execution("ranker-retrain", start_time=now - timedelta(days=2),
                                                end_time=now - timedelta(days=2) + timedelta(hours=1))
    _metric("Custom/Drift", "drift_score", "churn-prod", 0.42)
    _metric("Custom/ModelQuality", "auc", "churn-prod", 0.71)
    _metric("Custom/Drift", "drift_score", "fraud-prod", 0.38)
    _metric("Custom/ModelQuality", "auc", "fraud-prod", 0.93)
    _metric("Custom/ModelQuality", "ndcg", "ranker-prod", 0.61)
    log.append("sagemaker: endpoints churn-prod, fraud-prod, ranker-prod and their retraining pipelines; "
               "drift and KPI metrics in CloudWatch (churn: drift 0.42, AUC 0.71; fraud: drift 0.38, AUC 0.93; "
               "ranker: NDCG 0.61, pipeline ran 2 days ago)")
    sagemaker_monitoring.seed_monitoring_execution(
        "ranker-prod", "ranker-prod-data-quality",
        violations=[sagemaker_monitoring.drift_violation("query_length"),
                    sagemaker_monitoring.drift_violation("device_type")])
    emulator.drain()
    log.append("sagemaker: ranker-prod-data-quality execution CompletedWithViolations (2 baseline drift "
               "violations) -> SageMaker Processing Job State Change -> RetrainingFunction")
    emulator.run_schedule("RetrainingFunctionDaily")
    log.append("scheduler: daily RetrainingFunction sweep (keeps the drift alarms, evaluates every model)")
    cloudwatch = client("cloudwatch")
    if cloudwatch.describe_alarms(AlarmNames=["greenrail-drift-churn-prod"])["MetricAlarms"]:
        cloudwatch.set_alarm_state(AlarmName="greenrail-drift-churn-prod", StateValue="ALARM",
                                   StateReason="Threshold Crossed: drift_score 0.42 > 0.3")
        emulator.drain()
        log.append("cloudwatch: greenrail-drift-churn-prod -> ALARM -> CloudWatch Alarm State Change -> "
                   "RetrainingFunction (the same evidence: no second run)")
    else:
        log.append("cloudwatch: no drift alarm (Greenrail keeps its alarms in enforce mode only)")
    group = emulator.stack.physical["RetrainingScheduleGroup"] if emulator.stack else "greenrail-retraining"
    scheduler = client("scheduler")
    schedules = [scheduler.get_schedule(Name=s["Name"], GroupName=group)
                 for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
    lines = [f"{s['Name']}: {s['ScheduleExpression']} -> StartPipelineExecution "
             f"{json.loads(s['Target']['Input'])['PipelineName']}" for s in schedules]
    for line in lines:
        log.append(f"scheduler: one-time schedule {line}")
    if schedules:
        due = datetime.fromisoformat(schedules[0]["ScheduleExpression"][3:-1]).replace(tzinfo=UTC)
        emulator.clock.advance(int((due - now).total_seconds()) + 60)
        emulator.run_due_schedules()
    executions = {
        name: [e["PipelineExecutionStatus"] for e in client("sagemaker").list_pipeline_executions(
            PipelineName=f"{name}-retrain")["PipelineExecutionSummaries"]]
        for name in MODELS
    }
    log.append(f"scheduler: the emulator's clock reaches the chosen hour; churn-retrain executions now: "
               f"{executions['churn']}")
    return {"lines": lines, "schedules": len(schedules), "executions": executions}
