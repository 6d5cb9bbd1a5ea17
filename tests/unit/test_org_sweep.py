"""The Organization sweep's plan, items, trimming and failure report (greenrail.flows.org_sweep)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws
from greenrail.decision import Decision
from greenrail.document import PolicyDocument
from greenrail.flows import org_sweep
from greenrail.flows.org_sweep import Item, PlanRequest, RoleNotAssumable, SweepInput
from tests.conftest import organization_accounts

STEP_FUNCTIONS_PAYLOAD_LIMIT = 256 * 1024  # a state's input or output, and an execution's
PUT_EVENTS_ENTRY_LIMIT = 256 * 1024
CENTRAL = "123456789012"  # moto's account


def size(value: Any) -> int:
    return len(json.dumps(value, default=str).encode())


@pytest.fixture(scope="module")
def moto_world() -> Iterator[dict[str, Any]]:
    """An Organization of two members, a results bucket, a notebook instance in one member."""
    from greenrail_cli.emulator.moto_ext import sts

    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("GREENRAIL_MEMBER_ROLE_NAME", "GreenrailExecution")
        sts.apply()
        aws.reset_clients()
        members = organization_accounts("ml-team", "no-role")
        boto3.client("s3").create_bucket(Bucket="org-sweep-results")
        credentials = boto3.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{members[0]}:role/GreenrailExecution", RoleSessionName="seed")["Credentials"]
        boto3.client("sagemaker", aws_access_key_id=credentials["AccessKeyId"],
                     aws_secret_access_key=credentials["SecretAccessKey"],
                     aws_session_token=credentials["SessionToken"]).create_notebook_instance(
            NotebookInstanceName="team-nb", InstanceType="ml.t3.medium", RoleArn=f"arn:aws:iam::{members[0]}:role/sm",
            Tags=[{"Key": "greenrail:working-hours", "Value": "always"}])
        sts.refuse_assume_role(f"arn:aws:iam::{members[1]}:role/GreenrailExecution")
        try:
            yield {"members": members}
        finally:
            sts.REFUSED.clear()
            aws.reset_clients()


# ---------------------------------------------------------------- plan
def test_the_default_policies_scan_act_in_member_accounts_and_have_no_organization_sweep() -> None:
    # retraining acts in the deploying account only; storage (daily) and notebooks (every 15
    # minutes) sweep the Organization themselves; notebooks can still be named
    assert org_sweep.default_policies() == ["endpoints", "training"]
    assert org_sweep.sweepable() == ["endpoints", "notebooks", "training"]
    assert org_sweep.sweeps_the_organization_itself("notebooks") and org_sweep.sweeps_the_organization_itself("storage")


def test_items_are_account_by_region_by_policy() -> None:
    items = org_sweep.plan_items(["111111111111", "222222222222"], ["us-east-1", "eu-west-1"], ["notebooks", "training"])
    assert len(items) == 8
    assert items[:4] == [{"policy": p, "account": "111111111111", "region": r}
                         for r in ("us-east-1", "eu-west-1") for p in ("notebooks", "training")]


def test_plan_writes_the_items_to_s3_and_returns_only_where(moto_world: dict[str, Any]) -> None:
    document = PolicyDocument(training={"mode": "off"})
    request = PlanRequest(run="run-1", bucket="org-sweep-results", input=SweepInput(
        regions="us-east-1,eu-west-1", policies="endpoints,notebooks,training"))
    planned = org_sweep.plan(request, document)
    assert planned["items"] == {"Bucket": "org-sweep-results", "Key": "org-sweep/run-1/items.json"}
    assert (planned["count"], planned["accounts"], planned["policies"], planned["off"]) == (
        3 * 2 * 2, 3, ["endpoints", "notebooks"], ["training"])
    body = boto3.client("s3").get_object(Bucket="org-sweep-results", Key="org-sweep/run-1/items.json")["Body"].read()
    items = json.loads(body)
    assert {i["account"] for i in items} == {CENTRAL, *moto_world["members"]}
    assert {i["region"] for i in items} == {"us-east-1", "eu-west-1"} and len(items) == planned["count"]


def test_plan_refuses_a_policy_it_cannot_sweep() -> None:
    with pytest.raises(ValueError, match=r"names a policy not sweepable across the Organization \(choose from "
                                         r"endpoints, notebooks, training\)"):  # the input's value is not echoed
        PlanRequest(run="run-2", bucket="org-sweep-results", input=SweepInput(policies="storage"))


# ---------------------------------------------------------------- one item
def test_an_item_is_swept_through_the_member_role_and_trimmed(moto_world: dict[str, Any]) -> None:
    member = moto_world["members"][0]
    published: list[Decision] = []
    records: dict[str, Any] = {}

    def once(subject: dict[str, Any], work: Any) -> Any:  # run_once, in memory
        key = json.dumps(subject, sort_keys=True)
        if key not in records:
            records[key] = work()
        return records[key]

    item = Item(policy="notebooks", account=member, region="us-east-1")
    summary = org_sweep.sweep_item(item, PolicyDocument(), once, published.extend)
    [decision] = published
    assert (decision.account, decision.action) == (member, "recommend-auto-stop")
    assert decision.resource.endswith(f":{member}:notebook-instance/team-nb")
    assert summary["actions"] == summary["announced"] == 1 and summary["status"] == "swept"
    assert "decisions" not in summary and size(summary) < 1024  # counts and savings only
    again = org_sweep.sweep_item(item, PolicyDocument(), once, published.extend)
    assert (again["actions"], again["announced"], len(published)) == (1, 0, 1)  # announced once per state


def test_an_account_whose_role_cannot_be_assumed_fails_its_item(moto_world: dict[str, Any]) -> None:
    refused = moto_world["members"][1]
    published: list[Decision] = []
    with pytest.raises(RoleNotAssumable, match=rf"^AccessDenied: cannot assume arn:aws:iam::{refused}:role/"):
        org_sweep.sweep_item(Item(policy="training", account=refused, region="us-east-1"), PolicyDocument(),
                             lambda s, w: w(), published.extend)
    assert published == []


def test_a_policy_turned_off_is_not_swept(moto_world: dict[str, Any]) -> None:
    refused = moto_world["members"][1]  # not even its role is assumed
    summary = org_sweep.sweep_item(Item(policy="endpoints", account=refused, region="us-east-1"),
                                   PolicyDocument(endpoints={"mode": "off"}), lambda s, w: w(), lambda d: None)
    assert summary["status"] == "off"


# ---------------------------------------------------------------- report
def lambda_failure(account: str, region: str, policy: str, error: str, message: str) -> dict[str, Any]:
    """A FAILED entry of a ResultWriter file, as Step Functions writes a Lambda function's error."""
    return {"Input": json.dumps({"policy": policy, "account": account, "region": region}), "Status": "FAILED",
            "Error": error, "Cause": json.dumps({"errorMessage": message, "errorType": error, "stackTrace": []})}


def test_the_report_reads_the_results_and_names_every_failed_item(moto_world: dict[str, Any]) -> None:
    s3 = boto3.client("s3")
    prefix = "org-sweep/run-3/results/map-run"
    ok = {"policy": "notebooks", "account": CENTRAL, "region": "us-east-1", "status": "swept", "actions": 2,
          "applied": 0, "announced": 1, "usd_per_month": 12.5}
    failed = [lambda_failure("210987654321", region, policy, "RoleNotAssumable",
                             "AccessDenied: cannot assume arn:aws:iam::210987654321:role/GreenrailExecution: ...")
              for region in ("eu-west-1", "us-east-1") for policy in ("notebooks", "training")]
    failed.append(lambda_failure("333333333333", "us-east-1", "training", "ScanFailed",
                                 "ThrottlingException: training scan failed: Rate exceeded"))
    s3.put_object(Bucket="org-sweep-results", Key=f"{prefix}/SUCCEEDED_0.json",
                  Body=json.dumps([{"Status": "SUCCEEDED", "Output": json.dumps(ok)}]))
    s3.put_object(Bucket="org-sweep-results", Key=f"{prefix}/FAILED_0.json", Body=json.dumps(failed))
    s3.put_object(Bucket="org-sweep-results", Key=f"{prefix}/manifest.json", Body=json.dumps({
        "DestinationBucket": "org-sweep-results", "ResultFiles": {
            "SUCCEEDED": [{"Key": f"{prefix}/SUCCEEDED_0.json"}], "FAILED": [{"Key": f"{prefix}/FAILED_0.json"}]}}))
    published: list[Decision] = []
    machine = f"arn:aws:states:us-east-1:{CENTRAL}:stateMachine:greenrail-org-sweep"
    totals = org_sweep.report({"run": "run-3", "state_machine": machine, "state": {
        "plan": {"count": 6}, "map": {"ResultWriterDetails": {"Bucket": "org-sweep-results",
                                                              "Key": f"{prefix}/manifest.json"}}}}, published.extend)
    assert (totals["items"], totals["swept"], totals["failed"], totals["usd_per_month"]) == (6, 1, 5, 12.5)
    assert totals["failed_accounts"] == ["210987654321", "333333333333"]
    [decision] = published
    assert (decision.policy, decision.action, decision.error, decision.resource) == (
        "endpoints", "none", "RoleNotAssumable", machine)  # filed under the first policy: one finding, run after run
    assert decision.reason == (
        "Organization sweep run-3: 5 of 6 items failed in 2 account(s), the others were swept: account 210987654321 "
        "(eu-west-1, us-east-1; notebooks, training): its member role cannot be assumed (AccessDenied); account "
        "333333333333 (us-east-1; training): ScanFailed: ThrottlingException: training scan failed: Rate exceeded; "
        "they are tried again by the next sweep")


def test_nothing_failed_no_decision_and_a_failed_map_is_one() -> None:
    assert org_sweep.failure_decision([], 10, "run", "arn:sm") is None
    decision = org_sweep.failure_decision([], 10, "run", "arn:sm", ("Distributed Map", {
        "Error": "States.ExceedToleratedFailureThreshold", "Cause": "7 of 10 child executions failed"}))
    assert decision is not None and decision.error == "States.ExceedToleratedFailureThreshold"
    assert "the Distributed Map failed: States.ExceedToleratedFailureThreshold (7 of 10" in decision.reason


# ---------------------------------------------------------------- payload limits at 1,000 accounts
def test_a_thousand_accounts_stay_inside_step_functions_payload_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from greenrail.adapters import organizations, s3

    accounts = [f"{100000000000 + n}" for n in range(1000)]
    regions, written = "us-east-1,eu-west-1,ap-southeast-2", {}
    extras = org_sweep._scan_extras()
    monkeypatch.setattr(org_sweep, "_scan_extras", lambda: {**extras, "storage": ("StorageSweepFunction", ())})
    monkeypatch.setattr(organizations, "active_accounts", lambda: accounts)
    monkeypatch.setattr(s3, "write_object", lambda bucket, key, body: written.setdefault(key, body) and "etag")
    request = PlanRequest(run="big", bucket="org-sweep-results",
                          input=SweepInput(regions=regions, policies="endpoints,notebooks,training,storage"))
    planned = org_sweep.plan(request, PolicyDocument())
    assert planned["count"] == 1000 * 3 * 4
    [items] = written.values()
    assert len(items) > STEP_FUNCTIONS_PAYLOAD_LIMIT  # why the items live in S3 (~0.8 MB)
    # the Map's state output: the execution's input, the plan's counts, the ResultWriter's location
    state = {**SweepInput(regions=regions).model_dump(), "plan": planned, "map": {
        "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:greenrail-org-sweep/big:0" + "0" * 36,
        "ResultWriterDetails": {"Bucket": "org-sweep-results", "Key": f"{planned['results_prefix']}/x/manifest.json"}}}
    assert size(state) < 4 * 1024
    # every item failing: the report's output and its one decision (a PutEvents entry) stay small
    failures = [org_sweep.failure(lambda_failure(a, r, p, "RoleNotAssumable", f"AccessDenied: cannot assume {a}"))
                for a in accounts for r in regions.split(",") for p in ("endpoints", "notebooks", "training", "storage")]
    monkeypatch.setattr(org_sweep, "results", lambda details: ([], failures))
    published: list[Decision] = []
    totals = org_sweep.report({"run": "big", "state_machine": "arn:sm", "state": {**state, "map_error": None}},
                              published.extend)
    assert totals["failed"] == 12_000 and size(totals) < 8 * 1024
    [decision] = published
    assert size(decision.to_event_entry("greenrail-decisions")) < PUT_EVENTS_ENTRY_LIMIT // 4
    assert decision.reason.endswith("and 970 more (the run's FAILED results files list them all); they are tried "
                                    "again by the next sweep")


# ---------------------------------------------------------------- handlers and the emulator's guard
def test_malformed_inputs_sweep_nothing(lambda_context: Any) -> None:
    from tests.conftest import load_function

    worker, planner = load_function("org_sweep_worker"), load_function("org_sweep")
    for event in ({"policy": "notebooks", "account": "12345", "region": "us-east-1"},
                  {"policy": "notebooks", "account": CENTRAL, "region": "mars-1"}, {"account": None},
                  {"policy": "NOTEBOOKS", "account": CENTRAL, "region": "us-east-1"}):  # not a swept policy
        assert worker.handler(event, lambda_context)["status"] == "malformed"
    machine = f"arn:aws:states:us-east-1:{CENTRAL}:stateMachine:greenrail-org-sweep"
    for event in ({}, {"report": {"run": "r", "state_machine": machine, "state": "RUNNING"}},
                  {"report": {"run": "r", "state_machine": machine, "state": {"plan": {"count": {"x": 1}}}}},
                  {"report": {"run": "r", "state_machine": machine, "state": {"map": {"ResultWriterDetails": {
                      "Bucket": "org-sweep-results", "Key": 7}}}}},
                  {"report": {"run": "r", "state_machine": machine, "state": {"map_error": {"Error": "x\ud800"}}}}):
        assert planner.handler(event, lambda_context)["status"] == "malformed"


def test_a_malformed_plan_input_fails_the_plan_and_names_no_value(lambda_context: Any) -> None:
    """The Plan step fails (the state machine's report names why) instead of planning, or crashing
    on an unknown policy or region; the values are not echoed (they go to the logs and a decision)."""
    from tests.conftest import load_function

    planner = load_function("org_sweep")
    for plan in ({"run": "r", "bucket": "Not_A_Bucket"}, {},
                 {"run": "r", "bucket": "org-sweep-results", "input": {"policies": "notebooks,secret-policy"}},
                 {"run": "r", "bucket": "org-sweep-results", "input": {"regions": "us-east-1,secret-region"}}):
        with pytest.raises(org_sweep.MalformedSweepInput) as refused:
            planner.handler({"plan": plan}, lambda_context)
        assert "secret" not in str(refused.value) and "Not_A_Bucket" not in str(refused.value)
    with pytest.raises(org_sweep.MalformedSweepInput, match="choose from endpoints, notebooks, training"):
        planner.handler({"plan": {"run": "r", "bucket": "org-sweep-results", "input": {"policies": "storage"}}},
                        lambda_context)


def test_results_that_cannot_be_read_back_are_one_decision(moto_world: dict[str, Any]) -> None:
    published: list[Decision] = []
    totals = org_sweep.report({"run": "run-4", "state_machine": "arn:sm", "state": {"plan": {"count": 2}, "map": {
        "ResultWriterDetails": {"Bucket": "org-sweep-results", "Key": "org-sweep/run-4/results/gone/manifest.json"}}}},
        published.extend)
    assert (totals["items"], totals["failed"], totals["failure_decision"]) == (2, 0, True)
    [decision] = published
    assert decision.error == "NoSuchKey"
    assert "the reading of its results failed: NoSuchKey" in decision.reason


def test_the_emulator_checks_calls_through_a_member_role_against_the_member_role(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from greenrail.aws import acting_in
    from greenrail_cli.emulator.iam import UndeclaredPermission, guard_for, member_role_actions
    from tests.conftest import ROOT

    monkeypatch.setenv("GREENRAIL_MEMBER_ROLE_NAME", "GreenrailExecution")
    monkeypatch.setenv("GREENRAIL_ACCOUNT_ID", CENTRAL)
    check = guard_for("OrgSweepWorkerFunction", frozenset({"sts:AssumeRole", "events:PutEvents"}),
                      member_role_actions(ROOT / "org" / "member-account.yaml"))
    with pytest.raises(UndeclaredPermission, match="sagemaker:ListEndpoints"):
        check(frozenset({"sagemaker:ListEndpoints"}), "list_endpoints")  # with its own role: refused
    with acting_in("210987654321"):
        check(frozenset({"sagemaker:ListEndpoints"}), "list_endpoints")  # through the member role
        check(frozenset({"events:PutEvents"}), "publish")
        with pytest.raises(UndeclaredPermission, match="s3:DeleteBucket"):
            check(frozenset({"s3:DeleteBucket"}), "nothing grants it")


def _member_endpoint(account: str, region: str, name: str) -> None:
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/GreenrailExecution", RoleSessionName="seed")["Credentials"]
    sagemaker = boto3.client("sagemaker", region_name=region, aws_access_key_id=credentials["AccessKeyId"],
                             aws_secret_access_key=credentials["SecretAccessKey"],
                             aws_session_token=credentials["SessionToken"])
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=f"arn:aws:iam::{account}:role/sm",
                           PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/m:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 2, "InstanceType": "ml.c5.xlarge"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


def test_endpoints_in_enforce_mode_go_to_their_workflow_never_deployed_unfollowed(
        moto_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """In the deployment's region each endpoint is handed to the rightsizing workflow (it deploys
    and follows); in another region, with no workflow there, it is only recommended (dry-run)."""
    from greenrail_cli.emulator.moto_ext import sagemaker_endpoints

    sagemaker_endpoints.apply()  # Inference Recommender, which the scan reads
    member = moto_world["members"][0]
    _member_endpoint(member, "us-east-1", "churn-prod")
    _member_endpoint(member, "eu-west-1", "churn-eu")
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="greenrail-endpoint-rightsizing", roleArn=f"arn:aws:iam::{CENTRAL}:role/sfn",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    monkeypatch.setenv("GREENRAIL_ENDPOINT_RIGHTSIZING_ARN", machine)
    document = PolicyDocument(endpoints={"mode": "enforce"})
    published: list[Decision] = []

    home = org_sweep.sweep_item(Item(policy="endpoints", account=member, region="us-east-1"), document,
                                lambda s, w: w(), published.extend)
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert execution["name"].startswith("endpoint-churn-prod-")
    started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert (started["endpoint"], started["account"]) == ("churn-prod", member)
    assert (home["workflows"], home["applied"], published) == (1, 0, [])  # the workflow announces, not the sweep

    away = org_sweep.sweep_item(Item(policy="endpoints", account=member, region="eu-west-1"), document,
                                lambda s, w: w(), published.extend)
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    assert (away["mode"], away["evaluated"], away["applied"]) == ("dry-run", 1, 0) and "workflows" not in away
    assert all(d.mode.value == "dry-run" and not d.applied for d in published)


def test_a_failed_plan_files_its_decision_where_the_next_clean_run_archives_it(moto_world: dict[str, Any]) -> None:
    """The run's policies come from its input when the plan failed: the finding a later clean run
    of the same schedule archives is the same one (same policy, same state machine)."""
    published: list[Decision] = []
    org_sweep.report({"run": "run-5", "state_machine": "arn:sm", "state": {
        "policies": "training", "plan_error": {"Error": "States.TaskFailed", "Cause": "ListAccounts: AccessDenied"}}},
        published.extend)
    org_sweep.report({"run": "run-6", "state_machine": "arn:sm", "state": {
        "policies": "training", "plan": {"count": 0, "policies": ["training"]}}}, published.extend)
    failed, clean = published
    assert (failed.policy, failed.compliant, clean.policy, clean.compliant) == ("training", False, "training", True)


def watching(monkeypatch: pytest.MonkeyPatch, machine_name: str, execution: str) -> None:
    """A training watch state machine (GREENRAIL_TRAINING_WATCH_ARN) running ``execution``."""
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=machine_name, roleArn=f"arn:aws:iam::{CENTRAL}:role/sfn",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
    )["stateMachineArn"]
    monkeypatch.setenv("GREENRAIL_TRAINING_WATCH_ARN", machine)
    sfn.start_execution(stateMachineArn=machine, name=execution, input="{}")


def test_a_recommendation_its_jobs_watch_announces_is_not_announced_again(
        moto_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The training watch (started by the job's event) announces its job's findings: the sweep
    announces only what no watch follows, and always a stop it applied itself."""
    from greenrail.flows.watch import execution_name

    member = moto_world["members"][0]
    watching(monkeypatch, "greenrail-training-watch", execution_name("watched-job", member))

    def decision(job: str, applied: bool = False) -> Decision:
        return Decision(policy="training", resource=f"arn:aws:sagemaker:us-east-1:{member}:training-job/{job}",
                        account=member, region="us-east-1", action="stop", mode="enforce" if applied else "dry-run",
                        applied=applied, reason="idle")

    published: list[Decision] = []
    count = org_sweep.announce([decision("watched-job"), decision("unwatched-job")], lambda s, w: w(), published.extend)
    assert count == 1 and [d.resource.rsplit("/", 1)[1] for d in published] == ["unwatched-job"]
    published.clear()
    assert org_sweep.announce([decision("watched-job", applied=True)], lambda s, w: w(), published.extend) == 1


def test_a_watched_job_whose_name_has_capitals_is_not_announced_again(
        moto_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """SageMaker writes a job's ARN in lower case; its watch is named after the job's own name
    (the event's), which the decision keeps in ``figures.job_name``."""
    from greenrail.flows.watch import execution_name

    member = moto_world["members"][0]
    watching(monkeypatch, "greenrail-training-watch-2", execution_name("Nightly-Train", member))
    decision = Decision(policy="training", resource=f"arn:aws:sagemaker:us-east-1:{member}:training-job/nightly-train",
                        account=member, region="us-east-1", action="stop", mode="dry-run", applied=False,
                        reason="idle", figures={"job_name": "Nightly-Train"})
    published: list[Decision] = []
    assert org_sweep.announce([decision], lambda s, w: w(), published.extend) == 0 and published == []


def test_the_run_s_finding_is_filed_under_the_same_policy_when_the_first_is_turned_off(
        moto_world: dict[str, Any]) -> None:
    """The policy a run files its failure under comes from what the schedule asks, not from what
    the plan kept: a policy turned off since the failure does not leave its finding open."""
    first, *others = org_sweep.default_policies()
    assert others, "needs two default policies"
    published: list[Decision] = []
    org_sweep.report({"run": "run-7", "state_machine": "arn:sm", "state": {
        "policies": "", "plan_error": {"Error": "States.TaskFailed", "Cause": "ListAccounts: AccessDenied"}}},
        published.extend)
    org_sweep.report({"run": "run-8", "state_machine": "arn:sm", "state": {  # the first policy is off now
        "policies": "", "plan": {"count": 0, "policies": others}}}, published.extend)
    failed, clean = published
    assert (failed.policy, failed.compliant, clean.policy, clean.compliant) == (first, False, first, True)
