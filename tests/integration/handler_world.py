"""One moto world with every resource the sample events name, for tests that run every handler.

A governed bucket holding the sample object, an idle training job the watch would stop, a
finished job whose Model Card the carbon record would write, the watch state machine, Security
Hub, the notification topic, the notebooks policy's Studio domain, space, app and notebook instance
(``handler_world_notebooks``), the endpoint rightsizing state machine (it evaluates the retraining
endpoint), and Greenrail's bus with a queue that sees every decision. Every
policy is in enforce mode: a valid sample event changes something. ``snapshot`` is the state a
malformed event must leave alone; ``reset`` puts it back after a valid event changed it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws, notify
from greenrail_cli.emulator.moto_ext import sagemaker_training as ext
from tests.conftest import ROOT, load_function
from tests.integration import handler_world_notebooks, handler_world_sweeps
from tests.integration.handler_world_notebooks import Estate as NotebooksEstate
from tests.integration.handler_world_sweeps import Estate as SweepsEstate
from tests.integration.test_training_evaluate import create_job, deploy_watch

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "greenrail-state"
BUS = "greenrail"
HANDLERS = ("storage_object", "storage_sweep", "training_watch_start", "training_evaluate", "carbon_record",
            "notifier", "auditor", "retraining", "endpoint_event", "endpoint_rightsizing")


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "events" / name).read_text()))


S3_EVENT = sample("s3-object-created.json")
INPROGRESS_EVENT = sample("sagemaker-training-job-inprogress.json")
COMPLETED_EVENT = sample("sagemaker-training-job-completed.json")
DECISION_EVENT = sample("greenrail-decision.json")
ALARM_EVENT = sample("cloudwatch-alarm-drift.json")
MONITOR_EVENT = sample("sagemaker-processing-job-monitoring.json")
ENDPOINT = ALARM_EVENT["detail"]["alarmName"].removeprefix("greenrail-drift-")
SCHEDULE_GROUP = "greenrail-retraining"
BUCKET = S3_EVENT["detail"]["bucket"]["name"]
KEY = S3_EVENT["detail"]["object"]["key"]
OBJECT_TAGS = [{"Key": "team", "Value": "churn"}]
LIFECYCLE = {"Rules": [{"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                        "Expiration": {"Days": 7}}]}
WATCHED_JOB = INPROGRESS_EVENT["detail"]["TrainingJobName"]
FINISHED_JOB = COMPLETED_EVENT["detail"]["TrainingJobName"]
CARD = COMPLETED_EVENT["detail"]["Tags"]["greenrail:model-card"]
POLICY = ("version: 1\nstorage:\n  mode: enforce\n  sweep:\n    manifest_bucket: greenrail-manifests\n"
          "training:\n  mode: enforce\ncarbon:\n  mode: enforce\n") + f"""\
retraining:
  mode: enforce
  window: {{profiles: {{{REGION}: [300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300,
                                 100, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300]}}}}
  models:
    - endpoint: {ENDPOINT}
      pipeline: {ENDPOINT}-retrain
      drift: {{namespace: Custom/Drift, metric_name: drift_score, dimensions: {{Endpoint: {ENDPOINT}}}, threshold: 0.3}}
      kpi: {{namespace: Custom/ModelQuality, metric_name: auc, dimensions: {{Endpoint: {ENDPOINT}}}, threshold: 0.8}}
"""
POLICY += "endpoints:\n  mode: enforce\n  latency_slo_ms: 50\n"
POLICY += handler_world_notebooks.POLICY + handler_world_sweeps.POLICY
HANDLERS += handler_world_notebooks.HANDLERS + handler_world_sweeps.HANDLERS


RIGHTSIZING_DECISION = {
    "policy": "endpoints", "resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}", "account": ACCOUNT,
    "region": REGION, "action": "downsize", "mode": "enforce", "applied": True, "reason": "cheaper",
    "target": {"variant": "AllTraffic", "instance_type": "ml.c5.large", "instance_count": 1},
}


class World:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.hub = boto3.client("securityhub", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                                   KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                   AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        self.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\0" * 300_000, Tagging="team=churn")
        self.job_arn = create_job(WATCHED_JOB, count=2)  # idle for hours: the watch stops it in enforce mode
        self.sagemaker.create_training_job(
            TrainingJobName=FINISHED_JOB, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/sm",
            AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
            ResourceConfig={"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 86400}, Tags=[{"Key": "greenrail:model-card", "Value": CARD}])
        end = datetime.now(UTC).replace(microsecond=0)
        ext.set_training_job_status(FINISHED_JOB, "Completed", start_time=end - timedelta(hours=2), end_time=end,
                                    billable_seconds=7200)
        self.machine = deploy_watch(monkeypatch)
        self.hub.enable_security_hub()
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="greenrail-notifications")["TopicArn"]
        monkeypatch.setenv("GREENRAIL_TOPIC_ARN", topic)
        self.notifications = self._queue("notifications")
        boto3.client("sns", region_name=REGION).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=self._arn(self.notifications))
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=BUS)
        self.decisions = self._queue("decisions")
        events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["greenrail"]}))
        events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": self._arn(self.decisions)}])
        self._retraining_estate(monkeypatch)
        self.rightsizing = self._endpoints_estate(monkeypatch)
        self.notebooks = NotebooksEstate()  # the Studio domain, space, app and notebook instance
        self.sweeps = SweepsEstate(monkeypatch, BUCKET, KEY, 300_000)  # digests, Organization and inventory sweeps
        self.reset()
        self.handlers: dict[str, ModuleType] = {name: load_function(name) for name in HANDLERS}
        self.handlers["org_sweep_worker"] = handler_world_sweeps.WithMemberRole(self.handlers["org_sweep_worker"])  # type: ignore[assignment]

    def _retraining_estate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An endpoint whose drift and falling KPI open the retraining gate, its pipeline, the group."""
        role = f"arn:aws:iam::{ACCOUNT}:role/sm"
        self.sagemaker.create_model(ModelName=ENDPOINT, ExecutionRoleArn=role, PrimaryContainer={"Image": "img:1"})
        self.sagemaker.create_endpoint_config(EndpointConfigName=ENDPOINT, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": ENDPOINT, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
        self.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
        self.sagemaker.create_pipeline(PipelineName=f"{ENDPOINT}-retrain", RoleArn=role,
                                       PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}))
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        self.scheduler.create_schedule_group(Name=SCHEDULE_GROUP)
        monkeypatch.setenv("GREENRAIL_RETRAINING_SCHEDULE_GROUP", SCHEDULE_GROUP)
        monkeypatch.setenv("GREENRAIL_RETRAINING_SCHEDULER_ROLE_ARN", role)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        for namespace, metric, value in (("Custom/Drift", "drift_score", 0.42), ("Custom/ModelQuality", "auc", 0.7)):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{
                "MetricName": metric, "Dimensions": [{"Name": "Endpoint", "Value": ENDPOINT}], "Value": value,
                "Timestamp": datetime.now(UTC) - timedelta(minutes=20)}])

    def _endpoints_estate(self, monkeypatch: pytest.MonkeyPatch) -> str:
        """The endpoint rightsizing state machine (its executions recorded, not run); the endpoint
        is the retraining one (InService, no Inference Recommender job: evaluated, left alone)."""
        from greenrail_cli.emulator.moto_ext import sagemaker_endpoints

        sagemaker_endpoints.apply()
        definition = (ROOT / "statemachines" / "endpoint_rightsizing.asl.json").read_text().replace(
            "${EndpointRightsizingFunctionArn}", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rightsizing")
        machine = str(self.sfn.create_state_machine(name="endpoint-rightsizing", definition=definition,
                                                    roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn")["stateMachineArn"])
        monkeypatch.setenv("GREENRAIL_ENDPOINT_RIGHTSIZING_ARN", machine)
        return machine

    def schedules(self) -> list[str]:
        return sorted(s["Name"] for s in self.scheduler.list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"])

    def _queue(self, name: str) -> str:
        return str(self.sqs.create_queue(QueueName=name)["QueueUrl"])

    def _arn(self, queue: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def received(self, queue: str) -> int:
        """How many messages reached ``queue`` since the last call (then emptied). Read from moto's
        backends, like ``snapshot``: through the API, the fuzz test would spend most of its time here."""
        from moto.sqs.models import sqs_backends

        fake = sqs_backends[ACCOUNT][REGION].get_queue(queue.rsplit("/", 1)[-1])
        count = len(fake._messages)  # noqa: SLF001 - moto's queue
        fake._messages.clear()  # noqa: SLF001
        return count

    def snapshot(self) -> dict[str, Any]:
        """What a malformed event must leave as it was."""
        from moto.dynamodb.models import dynamodb_backends
        from moto.s3.models import s3_backends
        from moto.sagemaker.models import sagemaker_backends
        from moto.securityhub.models import securityhub_backends
        from moto.stepfunctions.models import stepfunctions_backends

        s3 = s3_backends[ACCOUNT]["global"]
        cards = sagemaker_backends[ACCOUNT][REGION].model_cards
        findings = securityhub_backends[ACCOUNT][REGION].findings
        fake_object = s3.get_object(BUCKET, KEY)
        assert fake_object is not None
        return {
            "object_tags": s3.get_object_tagging(fake_object)["Tags"],
            "lifecycle": [rule.id for rule in s3.get_bucket(BUCKET).rules],
            "watched_job": (ext.stop_calls(WATCHED_JOB), sagemaker_backends[ACCOUNT][REGION].training_jobs[WATCHED_JOB].training_job_status),
            "cards": {name: len(versions) for name, versions in cards.items()},
            "findings": json.dumps([finding.as_dict() for finding in findings], sort_keys=True, default=str),
            "executions": sorted(e.name for e in stepfunctions_backends[ACCOUNT][REGION].describe_state_machine(self.machine).executions),
            "schedules": self.schedules(),
            "notebooks": self.notebooks.snapshot(),
            "sweeps": self.sweeps.snapshot(),
            "state": sorted(str(item.hash_key.value) for item in dynamodb_backends[ACCOUNT][REGION].get_table(TABLE).all_items()),
            "rightsizing": sorted(e.name for e in stepfunctions_backends[ACCOUNT][REGION].describe_state_machine(
                self.rightsizing).executions),
            "endpoint": {k: v for k, v in self.sagemaker.describe_endpoint(EndpointName=ENDPOINT).items()
                         if k in ("EndpointConfigName", "EndpointStatus")},
        }

    def reset(self) -> None:
        """The state before any event: untagged object, the bucket's own rule, a running job, a fresh card."""
        self.s3.put_object_tagging(Bucket=BUCKET, Key=KEY, Tagging={"TagSet": copy.deepcopy(OBJECT_TAGS)})
        self.s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration=copy.deepcopy(LIFECYCLE))
        ext.set_training_job_status(WATCHED_JOB, "InProgress", start_time=datetime.now(UTC) - timedelta(hours=3))
        for card in self.sagemaker.list_model_cards()["ModelCardSummaries"]:
            self.sagemaker.delete_model_card(ModelCardName=card["ModelCardName"])
        self.sagemaker.create_model_card(ModelCardName=CARD, Content="{}", ModelCardStatus="Draft")
        from moto.stepfunctions.models import stepfunctions_backends

        # forgotten, not just stopped: a name that ran once could not start again (ExecutionAlreadyExists)
        stepfunctions_backends[ACCOUNT][REGION].describe_state_machine(self.machine).executions.clear()
        if hasattr(self, "rightsizing"):
            stepfunctions_backends[ACCOUNT][REGION].describe_state_machine(self.rightsizing).executions.clear()
        items = self.dynamodb.scan(TableName=TABLE, ProjectionExpression="id").get("Items", [])
        for item in items:  # idempotency records, blast-radius counters, stop records
            self.dynamodb.delete_item(TableName=TABLE, Key={"id": item["id"]})
        for name in self.schedules():
            self.scheduler.delete_schedule(Name=name, GroupName=SCHEDULE_GROUP)
        self.received(self.decisions)
        if hasattr(self, "notebooks"):
            self.notebooks.reset()
        if hasattr(self, "sweeps"):
            self.sweeps.reset()
        self.received(self.notifications)

    def inputs(self) -> dict[str, list[Any]]:
        """Each handler's sample inputs."""
        return {
            "storage_object": [S3_EVENT],
            "storage_sweep": [{"account": ACCOUNT}, {"plan": True}],
            "training_watch_start": [INPROGRESS_EVENT, sample("sagemaker-tuning-job-inprogress.json"),
                                     sample("sagemaker-processing-job-inprogress.json")],
            "training_evaluate": [{"job_name": WATCHED_JOB, "job_arn": self.job_arn, "previous_action": "none"}],
            "carbon_record": [COMPLETED_EVENT],
            "notifier": [DECISION_EVENT],
            "auditor": [DECISION_EVENT],
            "retraining": [ALARM_EVENT, MONITOR_EVENT, {"sweep": True}],
            **self.notebooks.inputs(),
            **self.sweeps.inputs(),
            "endpoint_event": [sample("sagemaker-endpoint-in-service.json"), {"sweep": True},
                               sample("sagemaker-endpoint-deployment-baking.json")],
            "endpoint_rightsizing": [
                {"step": "evaluate", "execution": "endpoint-churn-prod-1", "endpoint": ENDPOINT, "account": ACCOUNT,
                 "event_id": "e-1", "waited": False, "gave_up": False},
                {"step": "follow", "execution": "endpoint-churn-prod-1", "endpoint": ENDPOINT, "account": ACCOUNT,
                 "polls": 1, "max_polls": 3, "deployment": {"decision": RIGHTSIZING_DECISION, "model_digest": "d1",
                                                            "new_config": ENDPOINT, "previous_config": "churn-old"}},
                {"step": "await", "execution": "endpoint-churn-prod-1", "endpoint": ENDPOINT, "account": ACCOUNT,
                 "token": "AAAA-token", "seconds": 300},
                {"step": "failed", "execution": "endpoint-churn-prod-1", "endpoint": ENDPOINT, "account": ACCOUNT,
                 "error": {"Error": "States.Timeout", "Cause": "the task timed out"}},
            ],
        }


@pytest.fixture(scope="module", name="shared_world")
def shared_world_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world per test module (building it takes seconds); ``world`` resets it for each test."""
    policy = tmp_path_factory.mktemp("policy") / "policy.yaml"
    policy.write_text(POLICY)
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in {
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "GREENRAIL_ACCOUNT_ID": ACCOUNT,
            "GREENRAIL_POLICY_FILE": str(policy), "GREENRAIL_STATE_TABLE": TABLE, "GREENRAIL_BUS_NAME": BUS,
            "GREENRAIL_AWS_MAX_ATTEMPTS": "1", "POWERTOOLS_METRICS_NAMESPACE": "Greenrail",
        }.items():
            monkeypatch.setenv(key, value)
        for key in ("AWS_ENDPOINT_URL", "GREENRAIL_POLICY_PARAMETER", "GREENRAIL_SLACK_SECRET_ARN",
                    "GREENRAIL_MEMBER_ROLE_NAME"):
            monkeypatch.delenv(key, raising=False)
        ext.apply()
        aws.reset_clients()
        notify.reset()
        with mock_aws():
            yield World(monkeypatch)
        aws.reset_clients()
        notify.reset()


@pytest.fixture(name="world")
def world_fixture(shared_world: World) -> World:
    shared_world.reset()
    return shared_world
