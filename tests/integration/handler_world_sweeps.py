"""The digest, the Organization sweep and the S3 Inventory sweep in the handler world
(``tests/integration/handler_world.py``).

* **digest**: a digest table holding one decision in a window already due: ``{}`` and
  ``{"flush_all": true}`` send it (a notification) and empty the window.
* **org_sweep**: an Organization (the world's account, its management account) and a results
  bucket holding one run's ResultWriter files, one item failed: the plan writes the items, the
  report publishes the failure decision.
* **org_sweep_worker**: one item in the world's own account, through its member role
  (``GREENRAIL_MEMBER_ROLE_NAME`` is set for this handler only: the others are not Organization
  deployments); the notebooks scan stops the instance, the training scan the idle job.
* **storage_inventory**: the sample object's bucket with a published CSV inventory, the work
  bucket holding one batch's results and fragment: ``prepare`` writes the checked manifest, a
  batch writes its fragment, ``finish`` writes the lifecycle rule, tags the object (its tags
  kept) and publishes the decisions.
* **storage_tag_merge**: one Batch Operations task of a merge job over the sample object: its tags
  kept, Greenrail's added.

``snapshot`` is what a malformed input must leave alone; ``reset`` puts it back.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import quote

import boto3
import pytest

HANDLERS = ("digest", "org_sweep", "org_sweep_worker", "storage_inventory", "storage_tag_merge")
POLICY = "notifications:\n  dry_run: each\n  window_minutes: 0\n"  # the notifier still sends at once
REGION, ACCOUNT = "us-east-1", "123456789012"
DIGESTS, RESULTS, WORK, INVENTORIES = "greenrail-digests", "greenrail-org-sweep-results", "greenrail-manifests", "acme-inventory"
MEMBER_ROLE = "GreenrailExecution"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:greenrail-org-sweep"
SWEEP_RESULTS = "org-sweep/run-0/results/map-run"
INVENTORY_RESULTS = "greenrail/inventory/{bucket}/r-0/results/map-run"
FRAGMENT = "greenrail/inventory/{bucket}/r-0/fragments/seeded.csv"


class WithMemberRole:
    """A handler module run as in an Organization deployment (its member role name set)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def handler(self, event: Any, context: Any) -> Any:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GREENRAIL_MEMBER_ROLE_NAME", MEMBER_ROLE)
            return self.module.handler(event, context)


class Estate:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, bucket: str, key: str, size: int) -> None:
        from greenrail_cli.emulator import inventory

        self.bucket, self.key = bucket, key
        self.s3 = boto3.client("s3", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.ddb.create_table(TableName=DIGESTS, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}])
        monkeypatch.setenv("GREENRAIL_DIGEST_TABLE", DIGESTS)
        self.digest_items = self._held_decision()
        boto3.client("organizations", region_name=REGION).create_organization(FeatureSet="ALL")
        for name in (RESULTS, WORK, INVENTORIES):
            self.s3.create_bucket(Bucket=name)
        inventory.configure(self.s3, bucket, INVENTORIES)
        self.manifest = inventory.publish(self.s3, bucket, INVENTORIES, [(key, size, "STANDARD", "e")],
                                          datetime.now(UTC) - timedelta(hours=6))
        self.seeded = {RESULTS: self._sweep_results(), WORK: self._inventory_results(size)}
        self.merge_job = self._running_merge_job()
        self.reset()

    # ------------------------------------------------------------ seeding
    def _running_merge_job(self) -> str:
        """A merge job of the world's account over the sample object, running (the tag-merge
        function acts only for one: the emulator's S3 Batch Operations, not run here)."""
        from greenrail.adapters import s3
        from greenrail_cli.emulator.moto_ext import s3control

        s3control.apply()
        key = f"greenrail/inventory/accounts/{ACCOUNT}/{self.bucket}/r-0/merge-onezone_ia.csv"
        self.s3.put_object(Bucket=WORK, Key=key, Body=f"{self.bucket},{quote(self.key, safe='/')}\n".encode())
        job = s3.create_merge_job(ACCOUNT, WORK, key, "e", "arn:aws:lambda:us-east-1:123456789012:function:merge",
                                  "greenrail:storage-class", "ONEZONE_IA", f"arn:aws:iam::{ACCOUNT}:role/batch",
                                  f"{key.rsplit('/', 1)[0]}/reports", "fuzz-merge-job")
        s3control.JOBS[job]["Status"] = "Active"
        return job

    def _held_decision(self) -> list[dict[str, Any]]:
        """One dry-run decision held in a window due an hour ago; returns the table's items."""
        from greenrail import digest
        from greenrail.config import NotificationsConfig
        from greenrail.decision import Decision, Mode

        decision = Decision(policy="storage", resource=f"arn:aws:s3:::{self.bucket}/{self.key}", account=ACCOUNT,
                            region=REGION, action="tag", mode=Mode.DRY_RUN, reason="training data")
        due = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
        digest._indexed.clear()
        digest.hold(decision, digest.Window("window", due), NotificationsConfig(), DIGESTS)
        return list(self.ddb.scan(TableName=DIGESTS)["Items"])

    def _put_json(self, bucket: str, key: str, value: Any) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(value).encode())

    def _sweep_results(self) -> dict[str, bytes]:
        """run-0's ResultWriter files: one item swept, one failed (its member role refused)."""
        swept = {"policy": "notebooks", "account": ACCOUNT, "region": REGION, "mode": "enforce", "status": "swept",
                 "evaluated": 1, "actions": 1, "applied": 1, "announced": 1, "usd_per_month": 3.5}
        failed = {"Input": json.dumps({"policy": "training", "account": "210987654321", "region": REGION}),
                  "Status": "FAILED", "Error": "RoleNotAssumable",
                  "Cause": json.dumps({"errorMessage": "AccessDenied: cannot assume the role", "errorType": "RoleNotAssumable"})}
        files = {f"{SWEEP_RESULTS}/SUCCEEDED_0.json": [{"Status": "SUCCEEDED", "Output": json.dumps(swept)}],
                 f"{SWEEP_RESULTS}/FAILED_0.json": [failed],
                 f"{SWEEP_RESULTS}/manifest.json": {"DestinationBucket": RESULTS, "ResultFiles": {
                     "SUCCEEDED": [{"Key": f"{SWEEP_RESULTS}/SUCCEEDED_0.json"}],
                     "FAILED": [{"Key": f"{SWEEP_RESULTS}/FAILED_0.json"}]}}}
        return {key: json.dumps(value).encode() for key, value in files.items()}

    def _inventory_results(self, size: int) -> dict[str, bytes]:
        """r-0's ResultWriter files: one batch whose fragment merges the sample object's tag."""
        from greenrail.flows.inventory import prices
        from greenrail.storage_inventory import Candidate, aggregate

        prefix, fragment = INVENTORY_RESULTS.format(bucket=self.bucket), FRAGMENT.format(bucket=self.bucket)
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(
            [self.bucket, quote(self.key, safe="/"), "ONEZONE_IA", "merge", json.dumps({"team": "churn"})])
        candidate = Candidate(self.key, size, "STANDARD", "ONEZONE_IA", self.key.rsplit("/", 2)[0] + "/")
        output = {"rows": 1, "groups": aggregate([candidate], prices(REGION)), "skipped": {}, "routes": {"merge": 1},
                  "fragment": fragment}
        files = {f"{prefix}/SUCCEEDED_0.json": json.dumps([{"Status": "SUCCEEDED", "Output": json.dumps(output)}]),
                 f"{prefix}/manifest.json": json.dumps({"DestinationBucket": WORK, "ResultFiles": {
                     "SUCCEEDED": [{"Key": f"{prefix}/SUCCEEDED_0.json"}], "FAILED": []}}),
                 fragment: line.getvalue()}
        return {key: value.encode() for key, value in files.items()}

    # ------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        """The digest table's items, and the results and work buckets' objects (moto's backends: fast)."""
        from moto.dynamodb.models import dynamodb_backends
        from moto.s3.models import s3_backends

        s3 = s3_backends[ACCOUNT]["global"]
        table = dynamodb_backends[ACCOUNT][REGION].get_table(DIGESTS)
        return {
            "digests": sorted(json.dumps(item.to_json(), sort_keys=True) for item in table.all_items()),
            "objects": {name: sorted((key, value.etag) for key, value in s3.get_bucket(name).keys.items())
                        for name in (RESULTS, WORK)},
        }

    def reset(self) -> None:
        """The held decision back, every object a handler wrote removed, the seeded ones as they were
        (only what changed: the fuzz test resets after every input that acted)."""
        now, clean = self.snapshot(), getattr(self, "clean", None)
        if clean is None or now["digests"] != clean["digests"]:
            for item in self.ddb.scan(TableName=DIGESTS, ProjectionExpression="pk, sk").get("Items", []):
                self.ddb.delete_item(TableName=DIGESTS, Key=item)
            for item in self.digest_items:
                self.ddb.put_item(TableName=DIGESTS, Item=item)
        for bucket, files in self.seeded.items():
            if clean is not None and now["objects"][bucket] == clean["objects"][bucket]:
                continue
            listed = self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
            for extra in {o["Key"] for o in listed} - set(files):
                self.s3.delete_object(Bucket=bucket, Key=extra)
            for key, body in files.items():
                self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        self.clean = self.snapshot()

    def inputs(self) -> dict[str, list[Any]]:
        """What the schedule and the state machines pass each handler."""
        state = {"bucket": self.bucket, "account": ACCOUNT, "region": REGION, "run": "r-0",
                 "manifest": {"Bucket": INVENTORIES, "Key": self.manifest}, "work_bucket": WORK,
                 "rows_per_batch": 1000, "tolerated_failure_percentage": 10}
        base = f"greenrail/inventory/{self.bucket}/r-0"
        prepared = {"files": 1, "gone": [], "problems": [], "manifest": {"Bucket": WORK, "Key": f"{base}/manifest.json"},
                    "results_prefix": f"{base}/results", "format": "CSV"}
        row = {"Bucket": self.bucket, "Key": quote(self.key, safe="/"), "Size": "300000",
               "LastModifiedDate": "2026-11-01T00:00:00.000Z", "StorageClass": "STANDARD", "ETag": "e"}
        planned = {"items": {"Bucket": RESULTS, "Key": "org-sweep/run-0/items.json"},
                   "results_prefix": "org-sweep/run-0/results", "count": 2, "accounts": 1, "regions": [REGION],
                   "policies": ["notebooks", "training"], "max_concurrency": 40, "tolerated_failure_percentage": 50.0}
        return {
            "digest": [{}, {"flush_all": True}],
            "org_sweep": [
                {"plan": {"run": "run-0", "bucket": RESULTS, "input": {}}},
                {"plan": {"run": "run-1", "bucket": RESULTS, "input": {
                    "regions": "us-east-1,eu-west-1", "policies": "notebooks,training", "max_concurrency": 10,
                    "tolerated_failure_percentage": 20}}},
                {"report": {"run": "run-0", "state_machine": MACHINE, "state": {"plan": planned, "map": {
                    "MapRunArn": f"{MACHINE.replace(':stateMachine:', ':mapRun:')}/run-0:1",
                    "ResultWriterDetails": {"Bucket": RESULTS, "Key": f"{SWEEP_RESULTS}/manifest.json"}}}}},
                {"report": {"run": "run-1", "state_machine": MACHINE, "state": {
                    "plan_error": {"Error": "States.TaskFailed", "Cause": "ListAccounts: AccessDenied"}}}},
            ],
            "org_sweep_worker": [{"policy": name, "account": ACCOUNT, "region": REGION}
                                 for name in ("notebooks", "training", "endpoints")],
            "storage_tag_merge": [
                {"invocationSchemaVersion": "2.0", "invocationId": "i-0", "job": {"id": self.merge_job, "userArguments": {
                    "tagKey": "greenrail:storage-class", "storageClass": "ONEZONE_IA", "account": ACCOUNT}},
                 "tasks": [{"taskId": "t-0", "s3Bucket": self.bucket, "s3Key": quote(self.key, safe="/"),
                            "s3VersionId": None}]},
            ],
            "storage_inventory": [
                {"prepare": state},
                {"Items": [row, {**row, "Key": "datasets/churn/tmp/x.bin", "Size": "10"}], "BatchInput": {
                    "bucket": self.bucket, "account": ACCOUNT, "region": REGION, "run": "r-0", "work_bucket": WORK,
                    "format": "CSV"}},
                {"finish": {**state, "prepared": prepared, "map": {
                    "ResultWriterDetails": {"Bucket": WORK, "Key": f"{INVENTORY_RESULTS.format(bucket=self.bucket)}/manifest.json"}}}},
                {"finish": {**state, "prepared": {**prepared, "files": 0, "gone": ["inventory/a.csv.gz"]},
                            "map_error": {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "too many"}}},
            ],
        }
