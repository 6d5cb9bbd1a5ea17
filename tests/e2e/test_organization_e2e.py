"""Organization deployment in the emulator: a member account's event is acted on in that account."""

from __future__ import annotations

import json

import boto3
import pytest

from greenrail_cli.emulator import Emulator
from tests.conftest import EACH, ROOT, organization_accounts

pytestmark = pytest.mark.e2e


def organization_member() -> str:
    """A member account of a new Organization this (central) account manages: the auditor only
    records decisions for the central account and the Organization's ACTIVE accounts."""
    [member] = organization_accounts("ml-team")
    return member


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
        member_id = organization_member()
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


def test_a_member_buckets_batch_job_runs_in_the_member_account_as_its_batch_role() -> None:
    """Above the listing sweep's Batch Operations threshold, a member account's objects go to one
    merge job per class created in that account (its BatchOperationsRole, its folder of the
    manifest bucket), confirmed by a person there; it keeps every tag the objects have then."""
    from greenrail_cli.emulator.moto_ext.s3control import JOBS

    central_role = "arn:aws:iam::123456789012:role/greenrail-batch"
    policy = (EACH + "storage:\n  mode: enforce\n  sweep:\n    batch_operations_threshold: 2\n"
              f"    manifest_bucket: greenrail-manifests\n    batch_operations_role_arn: {central_role}\n")
    parameters = {"OrganizationId": "o-exampleorg01", "ManifestBucket": "greenrail-manifests",
                  "BatchOperationsRoleArn": central_role}
    with Emulator(policy, parameters=parameters) as emulator:
        member_id = organization_member()
        boto3.client("s3").create_bucket(Bucket="greenrail-manifests")
        member = member_session(member_id)
        s3 = member.client("s3")
        s3.create_bucket(Bucket="ml-team-big")
        s3.put_bucket_tagging(Bucket="ml-team-big", Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        keys = [f"sets/train/part-{i}.bin" for i in range(4)]
        for key in keys:
            s3.put_object(Bucket="ml-team-big", Key=key, Body=b"\0" * 200_000)

        emulator.run_schedule("StorageSweepStateMachineDaily")

        [decision] = [d for d in emulator.decisions if d.action == "batch-tag"]
        assert (decision.account, decision.applied, decision.figures["objects"]) == (member_id, True, 4)
        job = JOBS[decision.figures["batch_job_id"]]
        assert (job["AccountId"], job["RoleArn"]) == (member_id, f"arn:aws:iam::{member_id}:role/GreenrailBatchOperations")
        assert decision.figures["manifest"].startswith(f"s3://greenrail-manifests/greenrail/inventory/accounts/{member_id}/")
        s3.put_object_tagging(Bucket="ml-team-big", Key=keys[0], Tagging={"TagSet": [{"Key": "owner", "Value": "ana"}]})
        member.client("s3control").update_job_status(AccountId=member_id, JobId=job["JobId"], RequestedJobStatus="Ready")
        assert job["Status"] == "Complete" and job["ProgressSummary"]["NumberOfTasksSucceeded"] == 4
        assert {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket="ml-team-big", Key=keys[0])["TagSet"]} == {
            "owner": "ana", "greenrail:storage-class": "ONEZONE_IA"}
        assert s3.get_object_tagging(Bucket="ml-team-big", Key=keys[1])["TagSet"] == [
            {"Key": "greenrail:storage-class", "Value": "ONEZONE_IA"}]
