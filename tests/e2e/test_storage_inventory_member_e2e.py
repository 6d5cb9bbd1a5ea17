"""A member account's bucket swept from its S3 Inventory, end to end in the emulator (an
Organization deployment): the member bucket's inventory is delivered to the central manifest
bucket; the daily sweep finds it through the member role and starts the inventory state machine;
the decide step reads the candidates' tags through the member role; ``Finish`` creates the merge
job IN the member account, as its BatchOperationsRole (org/member-account.yaml); the job invokes
the central tag-merge function, which checks the job is that account's and tags through the
member role. A job that is not the named account's makes the function act nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from greenrail_cli.emulator import ACCOUNT, Emulator, inventory
from greenrail_cli.emulator.moto_ext import s3control as batch_ext
from tests.e2e.test_organization_e2e import member_session, organization_member

pytestmark = pytest.mark.e2e
MANIFESTS, BUCKET, UNLISTED = "greenrail-manifests", "ml-member-inv", "ml-member-big"
POLICY = f"""storage:
  mode: enforce
  sweep:
    manifest_bucket: {MANIFESTS}
    batch_operations_role_arn: arn:aws:iam::{ACCOUNT}:role/greenrail-batch
  inventory:
    rows_per_batch: 3
    listing_threshold: 3
    allow_create_inventory: true
"""
SIZE = 200 * 1024
OBJECTS = [(f"datasets/train/part-{i}.bin", SIZE, "STANDARD", "e") for i in range(5)]


def tags(s3: Any, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


@pytest.fixture(scope="module")
def swept() -> Iterator[dict[str, Any]]:
    parameters = {"OrganizationId": "o-exampleorg01", "ManifestBucket": MANIFESTS,
                  "BatchOperationsRoleArn": f"arn:aws:iam::{ACCOUNT}:role/greenrail-batch"}
    with Emulator(POLICY, parameters=parameters) as emulator:
        member = organization_member()
        central_s3 = boto3.client("s3")
        central_s3.create_bucket(Bucket=MANIFESTS)
        s3 = member_session(member).client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        for key, size, _, _ in OBJECTS:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"\0" * size)
        s3.put_object_tagging(Bucket=BUCKET, Key=OBJECTS[0][0], Tagging={"TagSet": [{"Key": "team", "Value": "vision"}]})
        s3.create_bucket(Bucket=UNLISTED)  # no inventory, more objects than the listing threshold
        s3.put_bucket_tagging(Bucket=UNLISTED, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        for key, size, _, _ in OBJECTS:
            s3.put_object(Bucket=UNLISTED, Key=key, Body=b"\0" * size)
        # delivered to the central account's manifest bucket (the destination names its owner)
        inventory.configure(s3, BUCKET, MANIFESTS, account=ACCOUNT)
        inventory.publish(central_s3, BUCKET, MANIFESTS, OBJECTS, datetime.now(UTC) - timedelta(hours=6))
        emulator.run_schedule("StorageSweepStateMachineDaily")
        decisions = [d for d in emulator.decisions if d.resource == f"arn:aws:s3:::{BUCKET}"]
        yield {"emulator": emulator, "member": member, "s3": s3, "decisions": decisions, "jobs": dict(batch_ext.JOBS)}


def test_a_member_accounts_bucket_is_swept_from_its_inventory(swept: dict[str, Any]) -> None:
    [decision] = swept["decisions"]
    assert (decision.account, decision.action, decision.applied) == (swept["member"], "batch-tag", True)
    assert decision.figures["source"] == "s3-inventory" and decision.figures["objects"] == 5


def test_its_merge_job_runs_in_the_member_account_as_the_member_batch_role(swept: dict[str, Any]) -> None:
    [decision] = swept["decisions"]
    job = swept["jobs"][decision.figures["batch_job_id"]]
    member = swept["member"]
    assert job["AccountId"] == member and job["RoleArn"] == f"arn:aws:iam::{member}:role/GreenrailBatchOperations"
    assert "LambdaInvoke" in job["Operation"] and job["Status"] == "Complete"
    assert job["ProgressSummary"]["NumberOfTasksSucceeded"] == 5


def test_every_object_is_tagged_in_the_member_account_its_own_tags_kept(swept: dict[str, Any]) -> None:
    s3 = swept["s3"]
    assert tags(s3, OBJECTS[0][0]) == {"team": "vision", "greenrail:storage-class": "ONEZONE_IA"}
    for key, *_ in OBJECTS[1:]:
        assert tags(s3, key) == {"greenrail:storage-class": "ONEZONE_IA"}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert any(rule["ID"].startswith("greenrail") for rule in rules)  # the managed rule, in the member bucket


def test_a_job_that_is_not_the_named_accounts_makes_the_function_act_nowhere(swept: dict[str, Any]) -> None:
    emulator, s3 = swept["emulator"], swept["s3"]
    key = "datasets/train/forged.bin"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"\0" * SIZE)
    [member_job] = [j for j in swept["jobs"].values() if j["AccountId"] == swept["member"]]
    # the member's real job claimed for Greenrail's own account, and a job id no account holds
    for job_id, account in ((member_job["JobId"], ACCOUNT), ("no-such-job", swept["member"])):
        answer = emulator.runtime.invoke(emulator.physical("StorageTagMergeFunction"), {
            "invocationSchemaVersion": "2.0", "invocationId": "forged",
            "job": {"id": job_id, "userArguments": {
                "tagKey": "greenrail:storage-class", "storageClass": "ONEZONE_IA", "account": account}},
            "tasks": [{"taskId": "t1", "s3Bucket": BUCKET, "s3Key": key, "s3VersionId": None}]})
        [result] = answer["results"]
        assert result["resultCode"] == "PermanentFailure" and "no job" in result["resultString"], account
    assert tags(s3, key) == {}


def test_a_member_bucket_without_inventory_gets_one_delivered_to_the_manifest_bucket(swept: dict[str, Any]) -> None:
    """Enforce with allow_create_inventory: the configuration is created in the member's bucket,
    delivering to the central manifest bucket (its owner named), where the next sweep reads it."""
    [decision] = [d for d in swept["emulator"].decisions if d.resource == f"arn:aws:s3:::{UNLISTED}"]
    assert (decision.account, decision.action, decision.applied) == (swept["member"], "recommend-inventory", True)
    [configuration] = swept["s3"].list_bucket_inventory_configurations(Bucket=UNLISTED)["InventoryConfigurationList"]
    destination = configuration["Destination"]["S3BucketDestination"]
    assert (destination["Bucket"], destination["AccountId"]) == (f"arn:aws:s3:::{MANIFESTS}", ACCOUNT)
