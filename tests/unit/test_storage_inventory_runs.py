"""The inventory sweep's runs and decisions: one execution per manifest and policy mode (not per
day), and a bounded number of decisions per bucket however many prefixes it has."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from greenrail.policies.storage import StoragePolicy

MANIFEST = {"Bucket": "acme-inventory", "Key": "inventory/ml-weekly/weekly/2026-11-23T01-00Z/manifest.json"}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def aws_world() -> Iterator[dict[str, Any]]:
    from moto import mock_aws

    from greenrail import aws

    with mock_aws():
        aws.reset_clients()
        role = aws.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        machine = aws.client("stepfunctions").create_state_machine(
            name="storage-inventory", definition=definition, roleArn=role)["stateMachineArn"]
        aws.client("s3").create_bucket(Bucket="greenrail-manifests")
        yield {"machine": machine}
        aws.reset_clients()


def executions(machine: str) -> list[str]:
    from greenrail import aws

    return [e["name"] for e in aws.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]]


def test_one_execution_per_manifest_and_mode_not_per_day(aws_world: dict[str, Any]) -> None:
    """A weekly inventory is swept once, not every day; switching dry-run to enforce sweeps the same
    manifest again, in enforce mode."""
    from greenrail.flows.inventory import start

    machine = aws_world["machine"]
    dry, enforce = (StoragePolicy(mode=mode, sweep={"manifest_bucket": "greenrail-manifests"})
                    for mode in ("dry-run", "enforce"))
    for _day in range(3):  # the daily sweep finds the same (weekly) manifest three days running
        start("ml-weekly", MANIFEST, dry, "123456789012", "us-east-1", machine)
    assert len(executions(machine)) == 1
    first = start("ml-weekly", MANIFEST, enforce, "123456789012", "us-east-1", machine)
    again = start("ml-weekly", MANIFEST, enforce, "123456789012", "us-east-1", machine)
    assert len(executions(machine)) == 2 and first["run"] == again["run"]
    newer = {**MANIFEST, "Key": MANIFEST["Key"].replace("2026-11-23", "2026-11-30")}
    start("ml-weekly", newer, enforce, "123456789012", "us-east-1", machine)
    assert len(executions(machine)) == 3


# ---------------------------------------------------------------- decisions per bucket are capped
def _groups(prefixes: int) -> list[dict[str, Any]]:
    """One batch's groups: ``prefixes`` ONEZONE_IA prefixes of growing size, one INTELLIGENT_TIERING one."""
    out = [{"target": "ONEZONE_IA", "prefix": f"train/shard-{i:05d}/", "current": "STANDARD", "objects": 2,
            "bytes": (i + 1) * MIB, "usd_per_month": (i + 1) * 1e-5, "kgco2e_per_month": (i + 1) * 1e-7}
           for i in range(prefixes)]
    return out + [{"target": "INTELLIGENT_TIERING", "prefix": "raw/", "current": "STANDARD", "objects": 1,
                   "bytes": MIB, "usd_per_month": 1e-6, "kgco2e_per_month": 1e-8}]


def _conclude(groups: list[dict[str, Any]], chosen: StoragePolicy, run: str) -> list[Any]:
    from greenrail import aws
    from greenrail.flows.inventory import FinishRequest, conclude

    s3 = aws.client("s3")
    s3.put_object(Bucket="greenrail-manifests", Key=f"{run}/SUCCEEDED_0.json", Body=json.dumps(
        [{"Output": json.dumps({"Payload": {"groups": groups, "fragment": None}})}]).encode())
    s3.put_object(Bucket="greenrail-manifests", Key=f"{run}/manifest.json", Body=json.dumps(
        {"ResultFiles": {"SUCCEEDED": [{"Key": f"{run}/SUCCEEDED_0.json"}]}}).encode())
    request = FinishRequest.model_validate({
        "bucket": "ml-wide", "account": "123456789012", "region": "us-east-1", "run": run,
        "work_bucket": "greenrail-manifests", "manifest": MANIFEST,
        "map": {"ResultWriterDetails": {"Bucket": "greenrail-manifests", "Key": f"{run}/manifest.json"}}})
    return conclude(request, chosen, None)


def test_decisions_per_bucket_are_capped_the_rest_folded_per_class(aws_world: dict[str, Any]) -> None:
    """Thousands of prefixes are not thousands of decisions: the groups saving most, and one decision per
    target class for the rest, its figures summed."""
    groups = _groups(3000)
    decisions = _conclude(groups, StoragePolicy(inventory={"max_decisions_per_bucket": 10}), "capped")
    kept = [d for d in decisions if "prefixes" not in d.figures]
    assert sorted(d.target["prefix"] for d in kept) == [f"train/shard-{i:05d}/" for i in range(2990, 3000)]
    folded = {d.target["storage_class"]: d for d in decisions if "prefixes" in d.figures}
    assert len(decisions) == 12 and sorted(folded) == ["INTELLIGENT_TIERING", "ONEZONE_IA"]  # one per class
    rest, small = folded["ONEZONE_IA"], folded["INTELLIGENT_TIERING"]
    others = groups[:2990]
    assert rest.target["prefix"] == "*" and rest.figures["prefixes"] == 2990
    assert rest.figures["objects"] == 2 * 2990 and rest.figures["size_bytes"] == sum(g["bytes"] for g in others)
    assert rest.savings.usd_per_month == pytest.approx(sum(g["usd_per_month"] for g in others), rel=1e-6)
    assert rest.figures["from_classes"] == {"STANDARD": 2 * 2990} and "2,990 prefixes" in rest.reason
    assert small.figures["prefixes"] == 1 and small.figures["objects"] == 1
    assert sum(d.figures["objects"] for d in decisions) == sum(g["objects"] for g in groups)  # nothing lost


def test_under_the_cap_every_prefix_is_its_own_decision(aws_world: dict[str, Any]) -> None:
    decisions = _conclude(_groups(49), StoragePolicy(), "default-cap")  # the default: 50
    assert len(decisions) == 50 and not [d for d in decisions if "prefixes" in d.figures]
