"""The training watch against moto: SageMaker (with Greenrail's moto extension), CloudWatch
metrics put with Host dimensions, DynamoDB for the blast radius, EventBridge for decisions."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenrail import aws
from greenrail.adapters import sagemaker as sagemaker_adapter
from greenrail.decision import Mode
from greenrail.flows.watch import watch_step
from greenrail.policies.training import IdleRule, RunawayRule, TrainingPolicy, apply, evaluate
from greenrail.policies.training import scan as scan_training
from greenrail.state import mark_announced
from greenrail_cli.emulator.moto_ext import sagemaker_training as ext
from tests.conftest import Context, load_function

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
TABLE = "greenrail-state"
POLICY = TrainingPolicy(
    mode=Mode.ENFORCE,
    idle=IdleRule(window_minutes=60, warmup_minutes=30),
    runaway=RunawayRule(max_runtime_hours=72),
)


load_handler = load_function


LambdaContext = Context  # the shared Lambda context of tests/conftest.py


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "GREENRAIL_STATE_TABLE": TABLE,
        "GREENRAIL_BUS_NAME": "greenrail",
        "POWERTOOLS_METRICS_NAMESPACE": "Greenrail",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ext.apply()
    aws.reset_clients()
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("events").create_event_bus(Name="greenrail")
        yield
    aws.reset_clients()


def create_job(
    name: str,
    instance_type: str = "ml.g5.xlarge",
    count: int = 1,
    hours: float = 3.0,
    tags: dict[str, str] | None = None,
    util: float | None = 1.0,
    metric: str = "GPUUtilization",
) -> str:
    arn = boto3.client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/sm",
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
        ResourceConfig={"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 24 * 3600},
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )["TrainingJobArn"]
    ext.set_training_job_status(name, "InProgress", start_time=datetime.now(UTC) - timedelta(hours=hours))
    if util is not None:
        put_utilization(name, count, util, metric)
    return str(arn)


def put_utilization(name: str, count: int, value: float, metric: str = "GPUUtilization") -> None:
    now = datetime.now(UTC)
    cloudwatch = boto3.client("cloudwatch")
    for n in range(1, count + 1):
        cloudwatch.put_metric_data(
            Namespace="/aws/sagemaker/TrainingJobs",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Host", "Value": f"{name}/algo-{n}"}],
                    "Timestamp": now - timedelta(minutes=minute),
                    "Value": value,
                }
                for minute in range(0, 70)
            ],
        )


def status(name: str) -> str:
    return str(boto3.client("sagemaker").describe_training_job(TrainingJobName=name)["TrainingJobStatus"])


def test_enforce_stops_an_idle_job(aws_env: None) -> None:
    create_job("idle", count=2)
    step = watch_step("idle", POLICY)
    assert step.action == "stop" and step.applied and step.publish and not step.done
    mark_announced(step.decision)  # what the handler does once the stop is published
    assert set(step.decision.figures["idle"]["hosts"]) == {"idle/algo-1", "idle/algo-2"}
    assert status("idle") == "Stopping"
    assert status("idle") == "Stopped"
    # The next turn sees the job ended: done, no second stop, the compliant decision published.
    final = watch_step("idle", POLICY, previous_action="stop")
    assert final.done and final.action == "none" and final.publish and final.decision.compliant
    assert ext.stop_calls("idle") == 1


def test_dry_run_only_decides(aws_env: None) -> None:
    create_job("idle")
    dry = POLICY.model_copy(update={"mode": Mode.DRY_RUN})
    step = watch_step("idle", dry)
    assert step.action == "stop" and not step.applied and step.publish
    assert status("idle") == "InProgress"
    # Same finding next turn: not published again.
    assert not watch_step("idle", dry, previous_action="stop").publish


def test_busy_and_exempt_jobs_untouched(aws_env: None) -> None:
    create_job("busy", util=85.0)
    create_job("exempt", tags={"greenrail:exempt": "true"})
    assert watch_step("busy", POLICY).action == "none"
    exempt = watch_step("exempt", POLICY)
    assert exempt.action == "none" and exempt.decision.figures["exempt"]
    assert status("busy") == "InProgress" and status("exempt") == "InProgress"


def test_missing_metrics_never_stop(aws_env: None) -> None:
    create_job("silent", util=None)
    step = watch_step("silent", POLICY)
    assert step.action == "none" and step.decision.figures["idle"]["state"] == "insufficient-data"


def test_runaway_over_budget_tag(aws_env: None) -> None:
    create_job(
        "spend", instance_type="ml.p4d.24xlarge", hours=2, util=500.0, tags={"greenrail:budget-usd": "50"}
    )
    step = watch_step("spend", POLICY)
    assert step.applied and "RunawayTrainingJob" in step.decision.reason
    assert step.decision.severity == "HIGH" and step.decision.figures["cost_so_far_usd"] > 50


def test_blast_radius_respected(aws_env: None) -> None:
    policy = POLICY.model_copy(
        update={"blast_radius": POLICY.blast_radius.model_copy(update={"max_actions_per_hour": 1})}
    )
    create_job("a")
    create_job("b")
    first, second = watch_step("a", policy), watch_step("b", policy)
    assert first.applied and not second.applied
    assert second.decision.figures["blocked"] == "BlastRadiusCapReached"
    assert status("b") == "InProgress"


def test_already_stopped_between_evaluation_and_action(aws_env: None) -> None:
    create_job("race")
    decision = evaluate("race", POLICY)
    assert decision.action == "stop"
    boto3.client("sagemaker").stop_training_job(TrainingJobName="race")  # someone else
    after = apply(decision, POLICY)
    assert after.action == "none" and not after.applied and after.figures["stop_skipped"] == "NotInProgress"
    assert ext.stop_calls("race") == 1
    # Evaluating again while Stopping: nothing to do, not done yet.
    again = watch_step("race", POLICY, previous_action="stop")
    assert again.action == "none" and not again.publish and ext.stop_calls("race") == 1


def test_deleted_between_evaluation_and_action(aws_env: None) -> None:
    create_job("gone")
    decision = evaluate("gone", POLICY)
    from moto.sagemaker.models import sagemaker_backends

    del sagemaker_backends["123456789012"][REGION].training_jobs["gone"]
    after = apply(decision, POLICY)
    assert after.action == "none" and after.figures["status"] == "NotFound"
    step = watch_step("gone", POLICY)
    assert step.done and step.status == "NotFound"


def test_access_denied_is_a_decision(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job("locked")

    def denied(name: str, region: str | None = None) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "StopTrainingJob")

    monkeypatch.setattr(sagemaker_adapter, "stop_training_job", denied)
    step = watch_step("locked", POLICY)
    assert step.action == "stop" and not step.applied
    assert (
        step.decision.figures["error"] == "AccessDeniedException" and "AccessDenied" in step.decision.reason
    )


def test_scan_every_in_progress_job(aws_env: None) -> None:
    create_job("idle")
    create_job("busy", util=90.0)
    create_job("done")
    ext.set_training_job_status("done", "Completed")
    decisions = scan_training(POLICY.model_copy(update={"mode": Mode.DRY_RUN}))
    by_name = {d.figures["job_name"]: d for d in decisions}
    assert set(by_name) == {"idle", "busy"}
    assert by_name["idle"].action == "stop" and by_name["busy"].action == "none"
    assert all(d.target == {} and not d.applied for d in decisions)
    assert status("idle") == "InProgress"


def test_evaluate_handler_output_and_publish(
    aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("training:\n  mode: enforce\n")
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(policy_file))
    published: list[Any] = []
    module = load_handler("training_evaluate")
    monkeypatch.setattr("greenrail.bus.publish", lambda decisions: published.extend(decisions))
    arn = create_job("idle")
    out = module.handler({"job_name": "idle", "job_arn": arn, "previous_action": "none"}, LambdaContext())
    assert out == {
        "done": False,
        "status": "Stopping",
        "action": "stop",
        "applied": True,
        "published_action": "stop",
    }
    assert len(published) == 1 and published[0].resource == arn
    status("idle")  # Stopping -> Stopped on the next describe
    out = module.handler({"job_name": "idle", "job_arn": arn, "previous_action": "stop"}, LambdaContext())
    assert out["done"] and out["status"] == "Stopped" and out["published_action"] == "none"
    assert len(published) == 2 and published[1].compliant


def deploy_watch(monkeypatch: pytest.MonkeyPatch) -> str:
    """The training watch state machine on moto, named in the starter's environment."""
    definition = (ROOT / "statemachines" / "training_watch.asl.json").read_text().replace(
        "${TrainingEvaluateFunctionArn}", f"arn:aws:lambda:{REGION}:123456789012:function:evaluate"
    )
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="training-watch", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    monkeypatch.setenv("GREENRAIL_TRAINING_WATCH_ARN", machine)
    return str(machine)


def test_watch_start_handler(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = deploy_watch(monkeypatch)
    sfn = boto3.client("stepfunctions")
    module = load_handler("training_watch_start")
    event = json.loads((ROOT / "events" / "sagemaker-training-job-inprogress.json").read_text())
    first = module.handler(event, LambdaContext())
    assert first["started"] and first["execution_name"].startswith("training-")
    # A duplicate while the watch runs: Step Functions returns the same execution (same name
    # and input); once it has ended, ExecutionAlreadyExists. Either way, still one execution.
    second = module.handler(event, LambdaContext())
    assert second.get("execution_arn") == first["execution_arn"]
    sfn.stop_execution(executionArn=first["execution_arn"])
    third = module.handler(event, LambdaContext())
    assert third == {"started": False, "reason": "already watched", "execution_name": first["execution_name"]}
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    started = json.loads(sfn.describe_execution(executionArn=first["execution_arn"])["input"])
    assert started["interval_seconds"] == 15 * 60 and started["last"]["published_action"] == "none"
    for nearmiss in sorted((ROOT / "events" / "nearmiss").glob("training-watch-*.json")):
        if nearmiss.name == "training-watch-tuning-job.json":  # a tuning job's own watch (test_training_jobs)
            continue
        assert not module.handler(json.loads(nearmiss.read_text()), LambdaContext())["started"], nearmiss.name
    broken = {**event, "detail": {"TrainingJobStatus": "InProgress"}}
    assert module.handler(broken, LambdaContext()) == {
        "started": False,
        "reason": "malformed or foreign event",
    }


def test_execution_names() -> None:
    from greenrail.flows import watch as module
    assert module.execution_name("my-job-1") == "training-my-job-1"
    long = module.execution_name("x" * 63)
    assert len(long) <= 80
    odd = module.execution_name("a.b c")
    assert odd != module.execution_name("a-b-c") and len(odd) <= 80


MEMBER = "222233334444"


def member_sagemaker() -> Any:
    """SageMaker acting in the member account (moto: an assumed role's credentials act in its account)."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/GreenrailExecution", RoleSessionName="seed"
    )["Credentials"]
    return boto3.client(
        "sagemaker",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_member_account_job_decisions_carry_the_jobs_account(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENRAIL_MEMBER_ROLE_NAME", "GreenrailExecution")
    arn = member_sagemaker().create_training_job(
        TrainingJobName="member-job",
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn=f"arn:aws:iam::{MEMBER}:role/sm",
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 24 * 3600},
    )["TrainingJobArn"]
    assert arn.split(":")[4] == MEMBER and aws.account_id() == "123456789012"
    with aws.acting_in(MEMBER):
        step = watch_step("member-job", POLICY, job_arn=arn)
        gone_arn = f"arn:aws:sagemaker:eu-west-1:{MEMBER}:training-job/deleted"
        gone = watch_step("deleted", POLICY, job_arn=gone_arn)
    assert step.decision.resource == arn
    assert (step.decision.account, step.decision.region) == (MEMBER, REGION)
    assert gone.done and gone.decision.resource == gone_arn
    assert (gone.decision.account, gone.decision.region) == (MEMBER, "eu-west-1")


def test_access_denied_on_describe_is_a_decision_not_a_crash(
    aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("training:\n  mode: enforce\n")
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(policy_file))
    arn = create_job("locked")

    def denied(name: str, region: str | None = None) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeTrainingJob")

    monkeypatch.setattr(sagemaker_adapter, "describe_training_job", denied)
    step = watch_step("locked", POLICY, previous_action="stop", job_arn=arn)
    assert step.action == "none" and not step.applied and not step.done and not step.publish
    assert step.published_action == "stop"  # the open finding is not resolved by an unread job
    assert step.decision.figures["error"] == "AccessDeniedException"
    assert "AccessDeniedException" in step.decision.reason and step.decision.resource == arn
    module = load_handler("training_evaluate")
    published: list[Any] = []
    monkeypatch.setattr("greenrail.bus.publish", lambda decisions: published.extend(decisions))
    out = module.handler({"job_name": "locked", "job_arn": arn, "previous_action": "none"}, LambdaContext())
    assert out == {
        "done": False,
        "status": "Unreadable",
        "action": "none",
        "applied": False,
        "published_action": "none",
    }
    assert published == [] and ext.stop_calls("locked") == 0


def test_invalid_watch_input_ends_the_watch_cleanly(
    aws_env: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    module = load_handler("training_evaluate")
    for bad in ({"job_arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/x"}, {"job_name": ""}, "x"):
        assert module.handler(bad, LambdaContext()) == {
            "done": True,
            "status": "InvalidInput",
            "action": "none",
            "applied": False,
            "published_action": "none",
        }
    assert caplog.text.count("invalid watch input") == 3
    assert capsys.readouterr().out.count('"InvalidWatchInput":[1.0]') == 3


def evaluate_handler_with_flaky_bus(monkeypatch: pytest.MonkeyPatch, failing: int) -> tuple[Any, list[Any], dict[str, int]]:
    """The evaluate handler, whose next ``failures["left"]`` publishes fail; what it published."""
    from greenrail.bus import PublishError

    module = load_handler("training_evaluate")
    published: list[Any] = []
    failures = {"left": failing}

    def flaky(decisions: list[Any]) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise PublishError("bus unavailable")
        published.extend(decisions)

    monkeypatch.setattr("greenrail.bus.publish", flaky)
    return module, published, failures


def test_a_stop_whose_publish_failed_is_announced_by_the_retry(
    aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greenrail.bus import PublishError

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("training:\n  mode: enforce\n")
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(policy_file))
    module, published, failures = evaluate_handler_with_flaky_bus(monkeypatch, failing=1)
    arn = create_job("idle")
    turn = {"job_name": "idle", "job_arn": arn, "previous_action": "none"}
    with pytest.raises(PublishError):
        module.handler(turn, LambdaContext())
    assert status("idle") == "Stopping" and published == []
    # The state machine retries the Task with the same input: the job is Stopping, nothing announced.
    retried = module.handler(turn, LambdaContext())
    assert retried["published_action"] == "stop" and retried["action"] == "stop" and not retried["done"]
    [stop] = published
    assert stop.action == "stop" and stop.applied and stop.resource == arn and not stop.compliant
    # The next turn: Stopped, the compliant decision once; the job was stopped once.
    final = module.handler({**turn, "previous_action": "stop"}, LambdaContext())
    assert final["done"] and final["status"] == "Stopped"
    assert [d.action for d in published] == ["stop", "none"] and published[1].compliant
    assert ext.stop_calls("idle") == 1


def test_a_stop_after_a_dry_run_finding_is_still_announced_if_its_publish_fails(
    aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greenrail.bus import PublishError

    policy_file = tmp_path / "policy.yaml"
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(policy_file))
    module, published, failures = evaluate_handler_with_flaky_bus(monkeypatch, failing=0)
    arn = create_job("idle")
    policy_file.write_text("training:\n  mode: dry-run\n")
    first = module.handler({"job_name": "idle", "job_arn": arn, "previous_action": "none"}, LambdaContext())
    assert first["published_action"] == "stop" and not first["applied"]  # the dry-run finding
    policy_file.write_text("training:\n  mode: enforce\n")
    failures["left"] = 1
    turn = {"job_name": "idle", "job_arn": arn, "previous_action": "stop"}
    with pytest.raises(PublishError):
        module.handler(turn, LambdaContext())  # stopped, but the announcement failed
    retried = module.handler(turn, LambdaContext())  # the state machine's retry, same input
    assert retried["published_action"] == "stop"
    assert [(d.action, d.applied) for d in published] == [("stop", False), ("stop", True)]
    again = module.handler({**turn, "previous_action": "stop"}, LambdaContext())
    assert [(d.action, d.applied) for d in published][-1] == ("none", False) and again["done"]
    assert ext.stop_calls("idle") == 1


def test_a_job_stopped_by_someone_else_is_not_announced(aws_env: None) -> None:
    create_job("theirs")
    boto3.client("sagemaker").stop_training_job(TrainingJobName="theirs")
    step = watch_step("theirs", POLICY)
    assert step.status == "Stopping" and not step.publish and not step.recovered
    step = watch_step("theirs", POLICY)
    assert step.status == "Stopped" and step.done and not step.publish


def test_member_account_jobs_get_their_own_execution_names(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greenrail.flows.watch import execution_name

    module = load_handler("training_watch_start")
    module.execution_name = execution_name
    assert module.execution_name("my-job-1", MEMBER) == f"training-{MEMBER}-my-job-1"
    long = module.execution_name("x" * 63, MEMBER)
    assert len(long) <= 80 and long != module.execution_name("x" * 63)
    assert module.execution_name("x" * 63, MEMBER) != module.execution_name("x" * 63, "999988887777")
    assert len(module.execution_name("a.b" * 21, MEMBER)) <= 80
    deploy_watch(monkeypatch)
    event = json.loads((ROOT / "events" / "sagemaker-training-job-inprogress.json").read_text())
    own = module.handler(event, LambdaContext())
    member_event = copy.deepcopy(event)
    member_event["account"] = MEMBER
    member_event["detail"]["TrainingJobArn"] = event["detail"]["TrainingJobArn"].replace(
        ":123456789012:", f":{MEMBER}:"
    )
    member = module.handler(member_event, LambdaContext())
    name = event["detail"]["TrainingJobName"]
    assert own["started"] and own["execution_name"] == f"training-{name}"
    assert member["started"] and member["execution_name"] == f"training-{MEMBER}-{name}"


# The EventBridge rule's pattern (template.yaml): InProgress training job state changes only.
RULE_PATTERN = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Training Job State Change"],
    "detail": {"TrainingJobStatus": ["InProgress"]},
}


def test_rule_pattern_matches_only_the_inprogress_event() -> None:
    from moto.events.models import EventPattern

    pattern = EventPattern.load(json.dumps(RULE_PATTERN))
    event = json.loads((ROOT / "events" / "sagemaker-training-job-inprogress.json").read_text())
    assert pattern.matches_event(event)
    for nearmiss in sorted((ROOT / "events" / "nearmiss").glob("training-watch-*.json")):
        assert not pattern.matches_event(json.loads(nearmiss.read_text())), nearmiss.name


def blast_radius_counts(policy: str) -> list[int]:
    """The counts of the policy's blast-radius counter items in the state table (one per hour)."""
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [int(i["count"]["N"]) for i in items if i["id"]["S"].startswith(f"blast-radius#{policy}#")]


def test_a_stop_throttled_beyond_botocores_retries_then_retried_takes_one_slot(
    aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("training:\n  mode: enforce\n  blast_radius:\n    max_actions_per_hour: 1\n")
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(policy_file))
    monkeypatch.setenv("GREENRAIL_AWS_MAX_ATTEMPTS", "2")  # botocore's retries, kept short
    aws.reset_clients()
    module = load_handler("training_evaluate")
    monkeypatch.setattr("greenrail.bus.publish", lambda decisions: None)
    arn = create_job("throttled")
    ext.throttle_stops("throttled", times=2)  # every attempt of the first invocation
    turn = {"job_name": "throttled", "job_arn": arn, "previous_action": "none"}
    with pytest.raises(ClientError, match="ThrottlingException"):
        module.handler(turn, LambdaContext())
    assert status("throttled") == "InProgress" and ext.stop_calls("throttled") == 0
    # The state machine retries the Task: the same stop, the same slot (the cap of 1 is not spent twice).
    retried = module.handler(turn, LambdaContext())
    assert retried["action"] == "stop" and retried["applied"] is True
    assert status("throttled") == "Stopping" and ext.stop_calls("throttled") == 1
    assert blast_radius_counts("training") == [1]
