"""Organization deployment in the emulator: a member account's event is acted on in that account."""

from __future__ import annotations

import json

import boto3
import pytest

from greenrail_cli.emulator import Emulator
from tests.conftest import EACH, ROOT

pytestmark = pytest.mark.e2e


def organization_member() -> str:
    """A member account of a new Organization this (central) account manages: the auditor only
    records decisions for the central account and the Organization's ACTIVE accounts."""
    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    status = organizations.create_account(AccountName="ml-team", Email="ml@example.com")["CreateAccountStatus"]
    return str(organizations.describe_create_account_status(
        CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"])


def member_session(account: str, role_name: str = "GreenrailExecution") -> boto3.session.Session:
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="seed")["Credentials"]
    return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                 aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"], region_name="us-east-1")


def test_member_account_object_is_tagged_and_audited_in_the_member_account() -> None:
    event = json.loads((ROOT / "events" / "s3-object-created.json").read_text())
    bucket, key = event["detail"]["bucket"]["name"], event["detail"]["object"]["key"]
    with Emulator(EACH + "storage:\n  mode: enforce\n", parameters={"OrganizationId": "o-exampleorg01"}) as emulator:
        event["account"] = member_id = organization_member()
        member = member_session(member_id)
        s3 = member.client("s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        s3.put_object(Bucket=bucket, Key=key, Body=b"\0" * 200_000)

        emulator.deliver(event)

        assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == [
            {"Key": "greenrail:storage-class", "Value": "ONEZONE_IA"}]
        [decision] = emulator.decisions
        assert decision.account == member_id and decision.applied
        # the finding lives in the member account (Security Hub: AwsAccountId must be the caller's)
        findings = member.client("securityhub").get_findings()["Findings"]
        assert [f["AwsAccountId"] for f in findings] == [member_id]
        assert emulator.findings == []  # nothing imported into the central account
        assert len(emulator.notifications) == 1  # notifications stay central


def test_daily_sweep_fans_out_over_the_organizations_accounts() -> None:
    policy = EACH + "storage:\n  mode: enforce\n"
    with Emulator(policy, parameters={"OrganizationId": "o-exampleorg01"}) as emulator:
        organizations = boto3.client("organizations")
        organizations.create_organization(FeatureSet="ALL")
        status = organizations.create_account(AccountName="ml-team", Email="ml@example.com")["CreateAccountStatus"]
        member_id = organizations.describe_create_account_status(
            CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"]
        credentials = boto3.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{member_id}:role/GreenrailExecution", RoleSessionName="seed")["Credentials"]
        member_s3 = boto3.client("s3", aws_access_key_id=credentials["AccessKeyId"],
                                 aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"])
        member_s3.create_bucket(Bucket="ml-team-datasets")
        member_s3.put_bucket_tagging(Bucket="ml-team-datasets", Tagging={"TagSet": [
            {"Key": "greenrail:storage", "Value": "managed"}]})
        member_s3.put_object(Bucket="ml-team-datasets", Key="sets/train/a.bin", Body=b"\0" * 200_000)
        central_s3 = boto3.client("s3")
        central_s3.create_bucket(Bucket="central-datasets")
        central_s3.put_bucket_tagging(Bucket="central-datasets", Tagging={"TagSet": [
            {"Key": "greenrail:storage", "Value": "managed"}]})
        central_s3.put_object(Bucket="central-datasets", Key="raw/b.bin", Body=b"\0" * 500_000)

        emulator.run_schedule("StorageSweepStateMachineDaily")

        assert member_s3.get_object_tagging(Bucket="ml-team-datasets", Key="sets/train/a.bin")["TagSet"] == [
            {"Key": "greenrail:storage-class", "Value": "ONEZONE_IA"}]
        assert central_s3.get_object_tagging(Bucket="central-datasets", Key="raw/b.bin")["TagSet"] == [
            {"Key": "greenrail:storage-class", "Value": "INTELLIGENT_TIERING"}]
        assert sorted(d.account for d in emulator.decisions) == sorted([member_id, "123456789012"])
        sfn = boto3.client("stepfunctions")
        [execution] = sfn.list_executions(stateMachineArn=emulator.physical("StorageSweepStateMachine"))["executions"]
        assert execution["status"] == "SUCCEEDED"
        accounts = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["output"])["accounts"]
        assert sorted(a["account"] for a in accounts) == sorted([member_id, "123456789012"])
        assert all(a["status"] == "swept" for a in accounts)
