"""Every policy sweeps the Organization, in the emulator: the daily OrgSweepStateMachine plans
account x region x policy into S3, a Distributed Map (ItemReader JSON from S3, ResultWriter to
S3) runs each item through the account's member role, and the report publishes one decision for
the account whose role cannot be assumed while the others' decisions are published."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from greenrail_cli.emulator import ACCOUNT, Emulator
from tests.conftest import organization_accounts

pytestmark = pytest.mark.e2e
ROLE = "GreenrailExecution"
REGIONS = ("us-east-1", "eu-west-1")
POLICIES = ("endpoints", "notebooks", "training")


def member_client(account: str, service: str, region: str) -> Any:
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="seed")["Credentials"]
    return boto3.client(service, region_name=region, aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def notebook(account: str, region: str, name: str) -> None:
    """A notebook instance meant to run around the clock without an idle auto-stop: the notebooks
    policy recommends one (``recommend-auto-stop``), whatever the time of day."""
    member_client(account, "sagemaker", region).create_notebook_instance(
        NotebookInstanceName=name, InstanceType="ml.t3.medium",
        RoleArn=f"arn:aws:iam::{account}:role/sagemaker", Tags=[{"Key": "greenrail:working-hours", "Value": "always"}])


@pytest.fixture(scope="module")
def swept() -> Any:
    from greenrail_cli.emulator.moto_ext.sts import REFUSED, refuse_assume_role

    parameters = {"OrganizationId": "o-exampleorg01", "SweepRegions": ",".join(REGIONS),
                  "OrgSweepPolicies": ",".join(POLICIES)}  # notebooks too (not by default: it has its own)
    with Emulator(None, parameters=parameters) as emulator:
        members = organization_accounts("ml-team", "no-role")
        ml_team, no_role = members
        notebook(ml_team, "eu-west-1", "team-nb")
        notebook(ACCOUNT, "us-east-1", "central-nb")  # the central account, through its own member role
        refuse_assume_role(f"arn:aws:iam::{no_role}:role/{ROLE}")
        try:
            emulator.run_schedule("OrgSweepStateMachineSchedule")
            yield emulator, members, list(emulator.decisions)
        finally:
            REFUSED.clear()


def outputs(emulator: Emulator) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=emulator.physical("OrgSweepStateMachine"))["executions"]
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    return [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["output"]) for e in executions]


def test_every_account_and_region_is_swept_through_its_member_role(swept: Any) -> None:
    emulator, (ml_team, _), first = swept
    found = {(d.account, d.region, d.resource.rsplit("/", 1)[1], d.action) for d in first if d.policy == "notebooks"
             and d.action != "none"}
    assert found == {(ml_team, "eu-west-1", "team-nb", "recommend-auto-stop"),
                     (ACCOUNT, "us-east-1", "central-nb", "recommend-auto-stop")}
    for report in outputs(emulator):
        assert report["items"] == 3 * len(REGIONS) * len(POLICIES)  # the central account and two members
        assert (report["swept"], report["failed"]) == (12, 6)


def test_an_account_whose_role_cannot_be_assumed_is_one_decision(swept: Any) -> None:
    emulator, (_, no_role), first = swept
    [failure] = [d for d in first if d.error]
    assert failure.error == "RoleNotAssumable" and failure.action == "none" and not failure.compliant
    assert failure.resource == emulator.physical("OrgSweepStateMachine")
    assert (f"6 of 18 items failed in 1 account(s), the others were swept: account {no_role} (eu-west-1, us-east-1; "
            "endpoints, notebooks, training): its member role cannot be assumed (AccessDenied)") in failure.reason
    assert {(f["account"], f["region"], f["policy"]) for f in failure.figures["failed"]} == {
        (no_role, region, policy) for region in REGIONS for policy in POLICIES}
    assert failure.figures["failed_accounts"] == [no_role]
    # one finding in the central account's Security Hub, on the state machine
    [finding] = [f for f in emulator.findings if f["Resources"][0]["Id"] == failure.resource]
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["Description"].startswith("Organization sweep ")


def test_items_and_results_stay_in_s3(swept: Any) -> None:
    emulator, _, _ = swept
    s3 = boto3.client("s3")
    bucket = emulator.physical("OrgSweepResultsBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sum(k.endswith("/items.json") for k in keys) == 1
    assert sum(k.endswith("/manifest.json") for k in keys) == 1
    assert sum(k.endswith("/FAILED_0.json") for k in keys) == 1
    [items_key, *_] = [k for k in keys if k.endswith("/items.json")]
    items = json.loads(s3.get_object(Bucket=bucket, Key=items_key)["Body"].read())
    assert {tuple(sorted(i)) for i in items} == {("account", "policy", "region")}


def test_the_failure_finding_is_archived_once_a_later_sweep_succeeds(swept: Any) -> None:
    """Last in this module: it runs the sweep a second time, the role now assumable."""
    from greenrail_cli.emulator.moto_ext.sts import REFUSED

    emulator, _, first = swept
    [failure] = [d for d in first if d.error]
    REFUSED.clear()
    before = len(emulator.decisions)
    emulator.run_schedule("OrgSweepStateMachineSchedule")
    second = emulator.decisions[before:]
    assert not [d for d in second if d.error]
    [resolved] = [d for d in second if d.resource == failure.resource]
    assert (resolved.policy, resolved.compliant, resolved.action) == (failure.policy, True, "none")
    assert "all 18 items swept" in resolved.reason
    [finding] = [f for f in emulator.findings if f["Resources"][0]["Id"] == failure.resource]
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("PASSED", "ARCHIVED")
