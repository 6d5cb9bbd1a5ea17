"""The carbon-record handler against moto: SageMaker training jobs and Model Cards, CloudWatch, EventBridge."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sagemaker.models import sagemaker_backends

from greenrail import aws
from greenrail.policies import carbon as carbon_policy
from greenrail_cli.emulator.moto_ext import sagemaker_training
from tests.conftest import Context, load_function

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUS = "greenrail"
EVENT = json.loads((ROOT / "events" / "sagemaker-training-job-completed.json").read_text())
UNRELATED_CONTENT = {
    "model_overview": {
        "model_description": "Churn classifier", "model_owner": "retention-team", "model_name": "churn-model",
    },
    "intended_uses": {"purpose_of_model": "rank customers by churn risk", "risk_rating": "Low"},
    "business_details": {"business_problem": "retention"},
    "additional_information": {
        "custom_details": {"reviewer": "alice"},
        "ethical_considerations": "none known",
    },
    "evaluation_details": [
        {
            "name": "holdout-2026-11",
            "metric_groups": [
                {"name": "Quality", "metric_data": [{"name": "auc", "type": "number", "value": 0.91}]}
            ],
        }
    ],
}


def greenrail_draft_tags(job_name: str) -> dict[str, str]:
    """The tags of a Draft card Greenrail created for the job (``create_draft``)."""
    return {"greenrail:managed": "true", "greenrail:training-job": job_name}


def load_handler() -> ModuleType:
    return load_function("carbon_record")


LambdaContext = Context  # the shared Lambda context of tests/conftest.py


@dataclass
class Env:
    handler: ModuleType
    sagemaker: Any
    queue_url: str
    policy_file: Path

    def policy(self, mode: str, **carbon: Any) -> None:
        lines = ["version: 1", "carbon:", f"  mode: {json.dumps(mode)}"] + [
            f"  {k}: {json.dumps(v)}" for k, v in carbon.items()
        ]
        self.policy_file.write_text("\n".join(lines) + "\n")

    def job(self, name: str, instance_type: str = "ml.p3.2xlarge", tags: dict[str, str] | None = None) -> str:
        self.sagemaker.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={
                "TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/x:1",
                "TrainingInputMode": "File",
            },
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/sm",
            OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
            ResourceConfig={"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 86400},
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )
        end = datetime.now(UTC).replace(microsecond=0)
        # Finished two hours after it started (the emulator's jobs start InProgress).
        sagemaker_training.set_training_job_status(
            name, "Completed", start_time=end - timedelta(hours=2), end_time=end, billable_seconds=7200
        )
        fake = sagemaker_backends[ACCOUNT][REGION].training_jobs[name]
        return str(fake.arn)

    def card(
        self, name: str, content: str | dict[str, Any], status: str = "Draft", tags: dict[str, str] | None = None
    ) -> None:
        text = content if isinstance(content, str) else json.dumps(content)
        extra: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
        self.sagemaker.create_model_card(ModelCardName=name, Content=text, ModelCardStatus=status, **extra)

    def model(self, name: str, job_name: str) -> str:
        """A SageMaker model made from the job's output (the link a card's model_overview names)."""
        artifacts = self.sagemaker.describe_training_job(TrainingJobName=job_name)["ModelArtifacts"]
        arn: str = self.sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sm",
            PrimaryContainer={"Image": "img:1", "ModelDataUrl": artifacts["S3ModelArtifacts"]},
        )["ModelArn"]
        return arn

    def versions(self, name: str) -> list[dict[str, Any]]:
        summaries = self.sagemaker.list_model_card_versions(ModelCardName=name)["ModelCardVersionSummaryList"]
        return sorted(summaries, key=lambda s: s["ModelCardVersion"])

    def content(self, name: str) -> dict[str, Any]:
        return json.loads(self.sagemaker.describe_model_card(ModelCardName=name)["Content"])

    def invoke(self, job_name: str, event_id: str = "evt-1") -> dict[str, Any]:
        event = copy.deepcopy(EVENT)
        event["id"] = event_id
        event["detail"]["TrainingJobName"] = job_name
        result: dict[str, Any] = self.handler.handler(event, LambdaContext())
        return result

    def decisions(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        found = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"])["detail"])
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "GREENRAIL_ACCOUNT_ID": ACCOUNT,
        "GREENRAIL_BUS_NAME": BUS,
        "GREENRAIL_POLICY_FILE": str(tmp_path / "policy.yaml"),
        "POWERTOOLS_METRICS_NAMESPACE": "Greenrail",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("GREENRAIL_STATE_TABLE", "GREENRAIL_POLICY_PARAMETER", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    sagemaker_training.apply()
    with mock_aws():
        aws.reset_clients()
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="decisions")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["greenrail"]}))
        events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])
        handler = load_handler()
        environment = Env(
            handler, boto3.client("sagemaker", region_name=REGION), queue_url, tmp_path / "policy.yaml"
        )
        environment.policy("enforce")
        yield environment
        aws.reset_clients()


def test_new_version_carries_the_record_and_keeps_everything_else(env: Env) -> None:
    arn = env.job("churn-1", tags={"greenrail:model-card": "churn-model"})
    env.model("churn-model", "churn-1")  # the card's model is the job's output: the card is the job's
    env.card("churn-model", UNRELATED_CONTENT)
    result = env.invoke("churn-1")
    assert result["status"] == "decided"

    versions = env.versions("churn-model")
    assert [v["ModelCardVersion"] for v in versions] == [1, 2]
    content = env.content("churn-model")
    for section in ("model_overview", "intended_uses", "business_details"):
        assert content[section] == UNRELATED_CONTENT[section]
    details = content["additional_information"]["custom_details"]
    assert (
        details["reviewer"] == "alice"
        and content["additional_information"]["ethical_considerations"] == "none known"
    )
    assert details["greenrail_carbon_training_job_arn"] == arn
    assert details["greenrail_carbon_method"].startswith("cloud-carbon-footprint/aws@")
    assert details["greenrail_carbon_estimated"] == "true"  # no CloudWatch metrics in this account: defaulted
    assert all(isinstance(v, str) and len(v) <= 1024 for v in details.values())
    assert content["evaluation_details"][0] == UNRELATED_CONTENT["evaluation_details"][0]
    entry = content["evaluation_details"][1]
    assert entry["name"] == "churn-1" and entry["evaluation_job_arn"] == arn
    [group] = entry["metric_groups"]
    assert group["name"] == "Sustainability"
    metrics = {m["name"]: m for m in group["metric_data"]}
    assert {m["type"] for m in group["metric_data"]} <= {"number", "string", "boolean"}
    assert metrics["PUE"]["value"] == 1.135

    [decision] = env.decisions()
    assert decision["policy"] == "carbon" and decision["action"] == "publish-carbon-record"
    assert decision["target"] == {"model_card": "churn-model"}
    assert decision["applied"] is True and decision["compliant"] is False  # informational
    assert decision["severity"] == "INFORMATIONAL" and decision["savings"]["kgco2e_per_month"] == 0
    assert decision["figures"]["hours"] == 2.0
    assert float(details["greenrail_carbon_energy_kwh"]) == pytest.approx(
        decision["figures"]["kwh"], rel=1e-5
    )

    # The same job again (a duplicate event): the card already carries the record, no new version.
    env.invoke("churn-1", event_id="evt-2")
    assert len(env.versions("churn-model")) == 2


def test_measured_utilization_is_normalised(env: Env) -> None:
    env.job("churn-2", tags={"greenrail:model-card": "churn-model"})
    env.card("churn-model", {})
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    when = datetime.now(UTC) - timedelta(minutes=30)
    for metric, value in (("CPUUtilization", 400.0), ("GPUUtilization", 80.0)):  # 8 vCPUs, 1 GPU
        cloudwatch.put_metric_data(
            Namespace=carbon_policy.TRAINING_NAMESPACE,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Host", "Value": "churn-2/algo-1"}],
                    "Timestamp": when,
                    "Value": value,
                    "Unit": "Percent",
                }
            ],
        )
    env.invoke("churn-2")
    [decision] = env.decisions()
    assert decision["figures"]["cpu_utilization"] == pytest.approx(0.5)
    assert decision["figures"]["gpu_utilization"] == pytest.approx(0.8)
    assert decision["figures"]["utilization_measured"] is True
    assert decision["figures"]["estimated"] is False


def test_untagged_job_gets_a_draft_card(env: Env) -> None:
    env.job("untagged-job")
    env.invoke("untagged-job")
    card = env.sagemaker.describe_model_card(ModelCardName="greenrail-untagged-job")
    assert card["ModelCardStatus"] == "Draft"
    assert (
        "greenrail_carbon_energy_kwh"
        in json.loads(card["Content"])["additional_information"]["custom_details"]
    )


@pytest.mark.parametrize(
    ("status", "content", "reason"),
    [
        ("Approved", UNRELATED_CONTENT, "is Approved"),
        ("Archived", UNRELATED_CONTENT, "is Archived"),
        ("Draft", '{"model_overview": {', "not valid JSON"),
        ("Draft", "[1, 2]", "not a JSON object"),
    ],
)
def test_cards_left_untouched(env: Env, status: str, content: Any, reason: str) -> None:
    env.job("churn-3", tags={"greenrail:model-card": "guarded"})
    env.card("guarded", content, status=status, tags=greenrail_draft_tags("churn-3"))
    before = env.sagemaker.describe_model_card(ModelCardName="guarded")["Content"]
    env.invoke("churn-3")
    assert len(env.versions("guarded")) == 1
    assert env.sagemaker.describe_model_card(ModelCardName="guarded")["Content"] == before
    [decision] = env.decisions()
    assert decision["applied"] is False and reason in decision["reason"]


def test_a_pending_review_card_is_left_unchanged(env: Env) -> None:
    env.job("churn-8", tags={"greenrail:model-card": "in-review"})
    env.model("churn-model", "churn-8")  # the job's own card, but under review: not Greenrail's to change
    env.card("in-review", UNRELATED_CONTENT, status="PendingReview", tags=greenrail_draft_tags("churn-8"))
    env.invoke("churn-8")
    assert len(env.versions("in-review")) == 1
    [decision] = env.decisions()
    assert decision["action"] == "publish-carbon-record" and decision["applied"] is False
    assert decision["reason"] == "model card in-review is PendingReview: left unchanged"


def test_another_teams_draft_card_is_left_unchanged(env: Env) -> None:
    """A job tagged with a card that is not its own cannot redirect the record there."""
    env.job("fraud-7")
    env.model("fraud-model", "fraud-7")  # the other team's card names their own model
    env.card("fraud-card", {"model_overview": {"model_name": "fraud-model"}}, tags={"team": "fraud"})
    env.card("greenrail-fraud-7", {}, tags=greenrail_draft_tags("fraud-7"))  # Greenrail's, for another job
    env.card("untagged-card", UNRELATED_CONTENT)  # names a model that does not exist
    for card in ("fraud-card", "greenrail-fraud-7", "untagged-card"):
        job = f"intruder-{card}"
        env.job(job, tags={"greenrail:model-card": card})
        env.invoke(job)
        assert len(env.versions(card)) == 1, card
        [decision] = env.decisions()
        assert decision["action"] == "publish-carbon-record" and decision["applied"] is False
        assert decision["reason"] == (
            f"model card {card} does not belong to job {job} (not created by Greenrail for it, "
            "and its model is not the job's output): left unchanged"
        )


def test_a_draft_greenrail_created_for_the_job_gets_the_record(env: Env) -> None:
    env.job("churn-9")
    env.card("greenrail-churn-9", {"model_overview": {"model_description": "kept"}},
             tags=greenrail_draft_tags("churn-9"))
    env.invoke("churn-9")
    assert len(env.versions("greenrail-churn-9")) == 2
    content = env.content("greenrail-churn-9")
    assert content["model_overview"] == {"model_description": "kept"}
    assert "greenrail_carbon_energy_kwh" in content["additional_information"]["custom_details"]
    [decision] = env.decisions()
    assert decision["applied"] is True


def test_a_card_whose_model_or_model_package_is_the_jobs_output_gets_the_record(env: Env) -> None:
    env.job("churn-10", tags={"greenrail:model-card": "by-model-arn"})
    model_arn = env.model("churn-10-model", "churn-10")
    env.card("by-model-arn", {"model_overview": {"model_id": model_arn}})
    env.invoke("churn-10")
    assert len(env.versions("by-model-arn")) == 2

    env.job("churn-11", tags={"greenrail:model-card": "by-package"})
    artifacts = env.sagemaker.describe_training_job(TrainingJobName="churn-11")["ModelArtifacts"]
    package = env.sagemaker.create_model_package(
        ModelPackageName="churn-package",
        InferenceSpecification={
            "Containers": [{"Image": "img:1", "ModelDataUrl": artifacts["S3ModelArtifacts"]}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    env.card("by-package", {"model_overview": {"model_id": package}})
    env.invoke("churn-11")
    assert len(env.versions("by-package")) == 2
    assert [d["applied"] for d in env.decisions()] == [True, True]


def test_content_over_the_size_limit_is_left_untouched(env: Env) -> None:
    env.job("churn-4", tags={"greenrail:model-card": "big"})
    big = {"additional_information": {"custom_details": {f"k{i}": "x" * 1000 for i in range(98)}}}
    assert 99_000 < len(json.dumps(big)) < 100_000
    env.card("big", big, tags=greenrail_draft_tags("churn-4"))
    env.invoke("churn-4")
    assert len(env.versions("big")) == 1
    [decision] = env.decisions()
    assert decision["applied"] is False and "100,000" in decision["reason"]


def test_unknown_instance_type_is_a_clear_error(env: Env) -> None:
    env.job("odd-job", instance_type="ml.zz9.huge", tags={"greenrail:model-card": "churn-model"})
    env.card("churn-model", UNRELATED_CONTENT)
    env.invoke("odd-job")
    assert len(env.versions("churn-model")) == 1
    [decision] = env.decisions()
    assert decision["applied"] is False
    assert "unknown instance type 'ml.zz9.huge'" in decision["reason"]
    assert "p4d" in decision["figures"]["error"]


def test_dry_run_writes_nothing(env: Env) -> None:
    env.policy("dry-run")
    env.job("churn-5", tags={"greenrail:model-card": "churn-model"})
    env.job("untagged-dry")
    env.model("churn-model", "churn-5")
    env.card("churn-model", UNRELATED_CONTENT)
    env.invoke("churn-5")
    env.invoke("untagged-dry")
    assert len(env.versions("churn-model")) == 1
    assert env.sagemaker.list_model_cards(NameContains="untagged-dry")["ModelCardSummaries"] == []
    decisions = env.decisions()
    assert len(decisions) == 2
    assert all(
        d["mode"] == "dry-run" and d["applied"] is False and "dry-run" in d["reason"] for d in decisions
    )
    assert all(d["figures"]["kwh"] > 0 for d in decisions)


def test_policy_off_and_near_miss_events(env: Env) -> None:
    ignored = env.handler.handler(
        json.loads(
            (Path(__file__).parent / "events" / "sagemaker-training-job-malformed-no-name.json").read_text()
        ),
        LambdaContext(),
    )
    assert ignored["status"] == "ignored"
    endpoint = env.handler.handler(
        json.loads((ROOT / "events" / "nearmiss" / "sagemaker-endpoint-in-service.json").read_text()),
        LambdaContext(),
    )
    assert endpoint["status"] == "ignored"
    env.policy("off")
    env.job("churn-6", tags={"greenrail:model-card": "churn-model"})
    env.card("churn-model", {})
    assert env.invoke("churn-6")["status"] == "skipped"
    assert env.decisions() == [] and len(env.versions("churn-model")) == 1


def test_idempotent_per_job_and_status_with_a_state_table(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="greenrail-state",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("GREENRAIL_STATE_TABLE", "greenrail-state")
    env.job("churn-7", tags={"greenrail:model-card": "churn-model"})
    env.model("churn-model", "churn-7")
    env.card("churn-model", UNRELATED_CONTENT)
    first = env.invoke("churn-7", event_id="evt-a")
    second = env.invoke("churn-7", event_id="evt-b")  # same job ARN and status, another event id
    assert first == second
    assert len(env.decisions()) == 1
    assert len(env.versions("churn-model")) == 2


MEMBER = "222233334444"


def test_member_account_job_record_carries_the_jobs_account(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENRAIL_MEMBER_ROLE_NAME", "GreenrailExecution")
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/GreenrailExecution", RoleSessionName="seed"
    )["Credentials"]
    member = boto3.client(
        "sagemaker",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    member.create_training_job(
        TrainingJobName="member-job",
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn=f"arn:aws:iam::{MEMBER}:role/sm",
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
        ResourceConfig={"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 86400},
    )
    end = datetime.now(UTC).replace(microsecond=0)
    sagemaker_training.set_training_job_status(
        "member-job", "Completed", start_time=end - timedelta(hours=2), end_time=end,
        billable_seconds=7200, account_id=MEMBER,
    )
    event = copy.deepcopy(EVENT)
    event["account"] = MEMBER
    event["detail"]["TrainingJobName"] = "member-job"
    assert env.handler.handler(event, LambdaContext())["status"] == "decided"
    [decision] = env.decisions()
    assert decision["account"] == MEMBER and decision["region"] == REGION
    assert decision["resource"] == f"arn:aws:sagemaker:{REGION}:{MEMBER}:training-job/member-job"
    # the draft card was written in the member account, not the central one
    assert member.describe_model_card(ModelCardName="greenrail-member-job")["ModelCardStatus"] == "Draft"


@pytest.mark.parametrize("event", ["not an event", None, ["a", "list"], 42])
def test_an_event_that_is_not_an_object_is_ignored(env: Env, event: Any) -> None:
    assert env.handler.handler(event, LambdaContext())["status"] == "ignored"


@pytest.mark.parametrize(
    ("started_days_ago", "hours", "period"),
    [
        (0.1, 2, 60),  # recent, short: one-minute datapoints
        (1, 24, 60),  # 1440 minutes: still one per minute
        (2, 48, 120),
        (16, 16 * 24, 1200),  # 960 s, older than 15 days: a multiple of 300
        (20, 3, 300),  # a short job recorded late: 60 s would return nothing
        (70, 70 * 24, 7200),  # 4200 s, older than 63 days: a multiple of 3600
        (64, 1, 3600),
    ],
)
def test_metric_period_is_one_cloudwatch_accepts(started_days_ago: float, hours: float, period: int) -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    start = now - timedelta(days=started_days_ago)
    got = carbon_policy.metric_period_seconds(start, start + timedelta(hours=hours), now)
    assert got == period
    age = (now - start).total_seconds()
    assert got % (3600 if age > 63 * 86400 else 300 if age > 15 * 86400 else 60) == 0
    assert math.ceil(hours * 60 / (got / 60)) <= carbon_policy.MAX_DATAPOINTS_PER_HOST


def test_a_long_job_is_measured_with_an_accepted_period(env: Env) -> None:
    """A 16-day job: GetMetricData is asked for a 300-multiple period (not 960 s)."""
    env.job("long-job", tags={"greenrail:model-card": "churn-model"})
    env.card("churn-model", {})
    end = datetime.now(UTC).replace(microsecond=0)
    sagemaker_training.set_training_job_status(
        "long-job", "Completed", start_time=end - timedelta(days=16), end_time=end, billable_seconds=16 * 86400
    )
    periods: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        periods.extend(q["MetricStat"]["Period"] for q in params["MetricDataQueries"])

    aws.client("cloudwatch").meta.events.register("provide-client-params.cloudwatch.GetMetricData", record)
    env.invoke("long-job")
    assert periods and set(periods) == {1200}


def _event_for(job_name: str, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    event["detail"]["TrainingJobName"] = job_name
    for path, value in changes.items():
        target = event
        *parents, leaf = path.split(".")
        for parent in parents:
            target = target[parent]
        if value is DROP:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return event


DROP = object()


@pytest.mark.parametrize("changes", [
    {"id": 12345},  # not a string: the decision could not be built after the write
    {"source": "aws.sagemaker.forged"},
    {"detail-type": DROP},
    {"detail.TrainingJobStatus": "Stopping"},  # no rule sends it (InProgress is the pre-flight's)
    {"detail.TrainingJobStatus": DROP},
    {"account": "not-an-account ü"},
    {"detail.TrainingJobStatus": "InProgress", "detail.ResourceConfig": DROP},  # a pre-flight without resources
], ids=["id-not-a-string", "forged-source", "no-detail-type", "stopping", "no-status", "garbage-account",
        "in-progress-without-resources"])
def test_the_whole_event_is_validated_before_any_write(env: Env, changes: dict[str, Any]) -> None:
    env.job("finished-1")  # Completed in SageMaker: only the event is wrong
    result = env.handler.handler(_event_for("finished-1", **changes), LambdaContext())
    assert result["status"] == "ignored"
    assert env.sagemaker.list_model_cards()["ModelCardSummaries"] == []
    assert env.decisions() == []


def test_a_publish_throttled_beyond_retries_writes_the_card_once(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly once under throttling: the retry after a failed PutEvents writes no second version."""
    from botocore.exceptions import ClientError

    from greenrail import bus

    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="greenrail-state", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    monkeypatch.setenv("GREENRAIL_STATE_TABLE", "greenrail-state")
    env.job("churn-8", tags={"greenrail:model-card": "churn-model"})
    env.model("churn-model", "churn-8")
    env.card("churn-model", UNRELATED_CONTENT)
    real_publish, calls = bus.publish, []

    def throttled_once(decisions: Any) -> Any:
        calls.append(len(decisions))
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutEvents")
        return real_publish(decisions)

    monkeypatch.setattr(bus, "publish", throttled_once)
    with pytest.raises(ClientError):
        env.invoke("churn-8")  # Lambda retries the event
    env.invoke("churn-8")
    assert len(env.versions("churn-model")) == 2  # the original and ONE carbon record
    [decision] = env.decisions()
    assert decision["action"] == "publish-carbon-record"


def test_energy_and_emissions_are_metrics_with_the_card_in_metadata(
        env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    env.job("metered-job")
    capsys.readouterr()
    result = env.invoke("metered-job")
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()
           if line.startswith("{") and '"_aws"' in line]
    [record] = [r for r in emf if "EnergyKWh" in r]
    def value(name: str) -> float:  # EMF writes a metric's values as a number or a list of them
        found = record[name]
        return float(found[0] if isinstance(found, list) else found)

    assert value("EnergyKWh") == pytest.approx(result["decision"]["figures"]["kwh"])
    assert value("EmissionsKgCO2e") == pytest.approx(result["decision"]["figures"]["kgco2e"])
    assert record["model_card"] == "greenrail-metered-job" and record["training_job"] == "metered-job"
    dimensions = record["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert "model_card" not in dimensions and "training_job" not in dimensions  # metadata, not dimensions
