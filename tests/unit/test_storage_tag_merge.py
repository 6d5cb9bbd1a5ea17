"""The inventory sweep's merge jobs: an S3 Batch Operations LambdaInvoke job per target class whose
function (StorageTagMergeFunction) reads each object's tags when its task runs and keeps them all.

On moto with the emulator's extensions: the job runs to completion through the emulator's Lambda
runtime (the function's real handler, its role's actions enforced), with its completion report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from greenrail.policies.storage import StoragePolicy
from greenrail_cli.emulator.moto_ext import s3control as batch_ext
from tests.conftest import ROOT

DATA, WORK, INVENTORIES = "ml-data", "greenrail-manifests", "acme-inventory"
ACCOUNT, ROLE = "123456789012", "arn:aws:iam::123456789012:role/greenrail-batch"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:greenrail-storage-tag-merge"
MIB = 1024 * 1024
DOCUMENT = f"storage:\n  mode: enforce\n  sweep:\n    manifest_bucket: {WORK}\n"  # the function reads the same document


def policy(**inventory: Any) -> StoragePolicy:
    mode = inventory.pop("mode", "enforce")
    return StoragePolicy(mode=mode, sweep={"batch_operations_role_arn": ROLE, "manifest_bucket": WORK},
                         inventory=inventory)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from moto import mock_aws

    from greenrail import aws
    from greenrail.registry import triggers
    from greenrail_cli.emulator import moto_ext
    from greenrail_cli.emulator.clock import Clock
    from greenrail_cli.emulator.runtime import FunctionSpec, LambdaRuntime

    document = tmp_path_factory.mktemp("policy") / "policy.yaml"
    document.write_text(DOCUMENT)
    [trigger] = [t for t in triggers() if t.resource == "StorageTagMergeFunction"]
    runtime = LambdaRuntime()
    runtime.register(FunctionSpec("StorageTagMergeFunction", FUNCTION.rsplit(":", 1)[1], FUNCTION,
                                  ROOT / "functions" / "storage_tag_merge", "app.handler",
                                  {"GREENRAIL_POLICY_FILE": str(document)}, granted_actions=trigger.role_actions()))
    with mock_aws():
        moto_ext.apply(runtime, Clock())
        aws.reset_clients()
        for bucket in (DATA, WORK, INVENTORIES):
            aws.client("s3").create_bucket(Bucket=bucket)
        aws.client("s3").put_bucket_tagging(Bucket=DATA, Tagging={"TagSet": [
            {"Key": "greenrail:storage", "Value": "managed"}]})
        yield {"runtime": runtime, "document": document}
        aws.reset_clients()


@pytest.fixture(autouse=True)
def _merge_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENRAIL_STORAGE_TAG_MERGE_ARN", FUNCTION)  # template.yaml sets it on the inventory function


def s3() -> Any:
    from greenrail import aws

    return aws.client("s3")


def tags(key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3().get_object_tagging(Bucket=DATA, Key=key)["TagSet"]}


def put(key: str, tagging: str = "") -> None:
    s3().put_object(Bucket=DATA, Key=key, Body=b"x", **({"Tagging": tagging} if tagging else {}))


def retag(key: str, tag_set: dict[str, str]) -> None:
    s3().put_object_tagging(Bucket=DATA, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tag_set.items()]})


def sweep(run: str, keys: list[str], chosen: StoragePolicy, between: Callable[[], None] = lambda: None) -> list[Any]:
    """decide_batch on inventory rows of ``keys`` (CSV: keys URL-encoded), then ``between`` (what
    happens while the Map runs), then the Finish step's conclusions (and tagging, in enforce mode)."""
    from urllib.parse import quote

    from greenrail.flows.inventory import BatchRequest, FinishRequest, conclude, decide_batch

    context = {"bucket": DATA, "account": ACCOUNT, "region": "us-east-1", "run": run, "work_bucket": WORK}
    rows = [{"Bucket": DATA, "Key": quote(key), "Size": str(4 * MIB), "StorageClass": "STANDARD", "ETag": "e"}
            for key in keys]
    output = decide_batch(BatchRequest.model_validate({"Items": rows, "BatchInput": {**context, "format": "CSV"}}),
                          chosen)
    between()
    s3().put_object(Bucket=WORK, Key=f"{run}/SUCCEEDED_0.json",
                    Body=json.dumps([{"Output": json.dumps({"Payload": output})}]).encode())
    s3().put_object(Bucket=WORK, Key=f"{run}/manifest.json", Body=json.dumps(
        {"DestinationBucket": WORK, "ResultFiles": {"SUCCEEDED": [{"Key": f"{run}/SUCCEEDED_0.json"}]}}).encode())
    request = FinishRequest.model_validate({**context, "manifest": {"Bucket": INVENTORIES, "Key": "m.json"},
                                            "map": {"ResultWriterDetails": {"Bucket": WORK, "Key": f"{run}/manifest.json"}}})
    return conclude(request, chosen, _Unbounded())


class _Unbounded:
    def acquire(self, subject: str) -> bool:
        return True


def report(job: dict[str, Any]) -> list[list[str]]:
    import csv
    import io

    text = s3().get_object(Bucket=WORK, Key=job["ReportKey"])["Body"].read().decode()
    return list(csv.reader(io.StringIO(text)))


def test_an_object_tagged_after_the_decide_step_keeps_that_tag(world: dict[str, Any]) -> None:
    """The tag-wipe window: S3PutObjectTagging would replace the tag set written meanwhile."""
    untagged, tagged = "datasets/train/part 1.bin", "datasets/train/part-2.bin"
    put(untagged)
    put(tagged, "team=vision")

    def meanwhile() -> None:
        retag(untagged, {"owner": "alice"})
        retag(tagged, {"team": "vision", "project": "cats"})

    [decision] = sweep("merge-window", [untagged, tagged], policy(), meanwhile)
    assert tags(untagged) == {"owner": "alice", "greenrail:storage-class": "ONEZONE_IA"}
    assert tags(tagged) == {"team": "vision", "project": "cats", "greenrail:storage-class": "ONEZONE_IA"}
    assert decision.applied and decision.figures["tagging"] == "merge" and decision.figures["objects"] == 2
    job = batch_ext.JOBS[decision.figures["batch_job_id"]]
    assert "LambdaInvoke" in job["Operation"] and job["Status"] == "Complete"
    assert job["ProgressSummary"]["NumberOfTasksSucceeded"] == 2  # every chosen object, tags or not, in one job


def test_an_object_exempted_after_the_decide_step_is_untouched(world: dict[str, Any]) -> None:
    key = "datasets/train/exempt-later.bin"
    put(key)
    [decision] = sweep("merge-exempt", [key], policy(), lambda: retag(key, {"greenrail:exempt": "true"}))
    job = batch_ext.JOBS[decision.figures["batch_job_id"]]
    assert job["ProgressSummary"]["NumberOfTasksSucceeded"] == 1
    assert tags(key) == {"greenrail:exempt": "true"}


def test_a_gone_object_is_a_permanent_failure_named_in_the_report_the_others_are_tagged(world: dict[str, Any]) -> None:
    keys = [f"datasets/train/gone-{i}.bin" for i in range(3)]
    for key in keys:
        put(key)
    [decision] = sweep("merge-gone", keys, policy(), lambda: s3().delete_object(Bucket=DATA, Key=keys[1]))
    job = batch_ext.JOBS[decision.figures["batch_job_id"]]
    assert job["Status"] == "Complete"
    assert job["ProgressSummary"] == {"TotalNumberOfTasks": 3, "NumberOfTasksSucceeded": 2, "NumberOfTasksFailed": 1}
    [row] = report(job)  # FailedTasksOnly
    assert row[:5] == [DATA, keys[1], "", "failed", "PermanentFailure"]
    assert f"s3://{DATA}/{keys[1]}" in row[6] and "gone" in row[6]
    assert tags(keys[0]) == tags(keys[2]) == {"greenrail:storage-class": "ONEZONE_IA"}


def test_dry_run_creates_no_job(world: dict[str, Any]) -> None:
    key = "datasets/train/dry.bin"
    put(key)
    jobs = len(batch_ext.JOBS)
    [decision] = sweep("merge-dry", [key], policy(mode="dry-run"))
    assert not decision.applied and "batch_job_id" not in decision.figures
    assert len(batch_ext.JOBS) == jobs and tags(key) == {}


def test_replace_is_todays_cheaper_job_with_its_window(world: dict[str, Any]) -> None:
    """tagging: replace: S3PutObjectTagging for the objects read without tags (a tag added since is
    lost: the documented window), one PutObjectTagging per object read with tags."""
    untagged, tagged = "datasets/train/replace-1.bin", "datasets/train/replace-2.bin"
    put(untagged)
    put(tagged, "team=vision")
    [decision] = sweep("replace-window", [untagged, tagged], policy(tagging="replace"),
                       lambda: retag(untagged, {"owner": "alice"}))
    job = batch_ext.JOBS[decision.figures["batch_job_id"]]
    assert "S3PutObjectTagging" in job["Operation"] and job["ProgressSummary"]["TotalNumberOfTasks"] == 1
    assert tags(untagged) == {"greenrail:storage-class": "ONEZONE_IA"}  # owner=alice lost
    assert tags(tagged) == {"team": "vision", "greenrail:storage-class": "ONEZONE_IA"}


def _throttle(key: str) -> None:
    """S3 answers SlowDown (503) to PutObjectTagging of ``key``."""
    from botocore.awsrequest import AWSResponse

    from greenrail import aws

    def answer(params: dict[str, Any], **_: Any) -> Any:
        if params["url_path"].startswith(f"/{key}"):
            return AWSResponse("https://s3", 503, {}, None), {
                "Error": {"Code": "SlowDown", "Message": "Reduce your request rate"},
                "ResponseMetadata": {"HTTPStatusCode": 503}}
        return None

    aws.client("s3").meta.events.register("before-call.s3.PutObjectTagging", answer)


def invocation(*keys: str, job_id: str = "job-1", **arguments: str) -> dict[str, Any]:
    return {"invocationSchemaVersion": "2.0", "invocationId": "inv-1",
            "job": {"id": job_id, "userArguments": arguments or {"tagKey": "greenrail:storage-class",
                                                                 "storageClass": "ONEZONE_IA", "account": ACCOUNT}},
            "tasks": [{"taskId": f"t{i}", "s3Bucket": DATA, "s3Key": key, "s3VersionId": None}
                      for i, key in enumerate(keys)]}


def test_the_function_answers_every_task_in_batch_operations_shape(world: dict[str, Any], lambda_context: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttling is a TemporaryFailure (Batch Operations retries it), never a crash that loses the
    other tasks; a policy no longer in enforce mode tags nothing; a malformed input does nothing."""
    from tests.conftest import load_function

    ok, throttled = "datasets/train/fn-ok.bin", "datasets/train/fn-throttled.bin"
    put(ok, "a=1")
    put(throttled)
    _throttle(throttled)
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(world["document"]))
    handler = load_function("storage_tag_merge").handler
    job_id = _job()  # a running merge job of this account: the one the invocations name
    answer = handler(invocation(ok, throttled, "datasets/train/never-there.bin", job_id=job_id), lambda_context)
    assert {k: answer[k] for k in ("invocationSchemaVersion", "treatMissingKeysAs", "invocationId")} == {
        "invocationSchemaVersion": "2.0", "treatMissingKeysAs": "PermanentFailure", "invocationId": "inv-1"}
    assert [(r["taskId"], r["resultCode"]) for r in answer["results"]] == [
        ("t0", "Succeeded"), ("t1", "TemporaryFailure"), ("t2", "PermanentFailure")]
    assert "SlowDown" in answer["results"][1]["resultString"]
    assert tags(ok) == {"a": "1", "greenrail:storage-class": "ONEZONE_IA"} and tags(throttled) == {}
    dry = Path(world["document"]).with_name("dry.yaml")
    dry.write_text("storage:\n  mode: dry-run\n")
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(dry))
    [refused] = handler(invocation("datasets/train/fn-throttled.bin", job_id=job_id), lambda_context)["results"]
    assert refused["resultCode"] == "PermanentFailure" and "dry-run" in refused["resultString"]
    for malformed in (None, [], {"tasks": "x"}, {**invocation(ok), "tasks": [{"s3Key": ok}]}):
        assert handler(malformed, lambda_context)["status"] == "malformed"
    assert tags(ok) == {"a": "1", "greenrail:storage-class": "ONEZONE_IA"}


def test_a_task_throttled_on_every_retry_fails_named_in_the_report_the_others_are_tagged(world: dict[str, Any]) -> None:
    """The emulated job retries a TemporaryFailure (as Batch Operations does), then fails the task."""
    keys = ["datasets/train/slow-0.bin", "datasets/train/slow-1.bin"]
    for key in keys:
        put(key)
    _throttle(keys[0])
    [decision] = sweep("merge-throttled", keys, policy())
    job = batch_ext.JOBS[decision.figures["batch_job_id"]]
    [row] = report(job)
    assert row[:5] == [DATA, keys[0], "", "failed", "TemporaryFailure"] and "SlowDown" in row[6]
    assert tags(keys[0]) == {} and tags(keys[1]) == {"greenrail:storage-class": "ONEZONE_IA"}


def _job(status: str = "Active", manifest_bucket: str = WORK, **arguments: str) -> str:
    """A merge job of Greenrail's own account over ``DATA``, created awaiting confirmation and put in
    ``status`` (the emulated job is not run: the test plays Batch Operations' invocations)."""
    from greenrail.adapters import s3 as adapter

    s3().put_object(Bucket=manifest_bucket, Key=f"greenrail/inventory/accounts/{ACCOUNT}/{DATA}/r/merge-onezone_ia.csv", Body=b"")
    token = f"{status}-{manifest_bucket}-{sorted(arguments.items())}"
    job_id = adapter.create_merge_job(ACCOUNT, manifest_bucket, f"greenrail/inventory/accounts/{ACCOUNT}/{DATA}/r/merge-onezone_ia.csv",
                                      "e", FUNCTION, arguments.get("tagKey", "greenrail:storage-class"),
                                      arguments.get("storageClass", "ONEZONE_IA"), ROLE, "greenrail/inventory/reports",
                                      str(abs(hash(token))), confirm=True)
    batch_ext.JOBS[job_id]["Status"] = status
    return job_id


def _invoke(job_id: str, key: str, **arguments: str) -> dict[str, str]:
    from greenrail.flows import tag_merge

    event = invocation(key, **(arguments or {"tagKey": "greenrail:storage-class", "storageClass": "ONEZONE_IA",
                                              "account": ACCOUNT}))
    event["job"]["id"] = job_id
    [result] = tag_merge.answer(tag_merge.parse(event), lambda: policy())["results"]
    return result


def test_a_job_cannot_make_the_function_write_any_tag_but_the_policys(world: dict[str, Any]) -> None:
    """userArguments.tagKey is the job's: the function writes policy.target_tag_key only (never an
    owner, cost-center or access tag rewritten to a storage class)."""
    key = "datasets/train/abac.bin"
    put(key, "access=restricted")
    job_id = _job(tagKey="access", account=ACCOUNT)
    result = _invoke(job_id, key, tagKey="access", storageClass="ONEZONE_IA", account=ACCOUNT)
    assert result["resultCode"] == "PermanentFailure"
    assert tags(key) == {"access": "restricted"}


def test_greenrails_own_account_is_acted_in_only_for_a_job_found_there(world: dict[str, Any]) -> None:
    """Any principal of the Organization may invoke the function (its resource policy): an invocation
    naming no account, or Greenrail's own, is checked against the job as much as a member's is."""
    key = "datasets/train/own-forged.bin"
    put(key)
    for arguments in ({"tagKey": "greenrail:storage-class", "storageClass": "ONEZONE_IA"},
                      {"tagKey": "greenrail:storage-class", "storageClass": "ONEZONE_IA", "account": ACCOUNT}):
        result = _invoke("forged-job-id", key, **arguments)
        assert result["resultCode"] == "PermanentFailure" and "no job" in result["resultString"]
    assert tags(key) == {}


def test_only_a_running_greenrail_merge_job_with_the_same_arguments_lends_its_id(world: dict[str, Any]) -> None:
    """A job found in the account is not enough: it must be running now, a LambdaInvoke on this
    function over a manifest Greenrail wrote for that bucket, with the invocation's userArguments."""
    key = "datasets/train/borrowed.bin"
    put(key)
    arguments = {"tagKey": "greenrail:storage-class", "storageClass": "ONEZONE_IA", "account": ACCOUNT}
    done = _job("Complete", account=ACCOUNT)
    other_class = _job(storageClass="INTELLIGENT_TIERING", account=ACCOUNT)
    foreign_manifest = _job(manifest_bucket=INVENTORIES, account=ACCOUNT)
    for job_id in (done, other_class, foreign_manifest):
        assert _invoke(job_id, key, **arguments)["resultCode"] == "PermanentFailure", job_id
    assert tags(key) == {}
    other_bucket = _invoke(_job(account=ACCOUNT), key, **arguments)  # the running job: this bucket's
    assert other_bucket["resultCode"] == "Succeeded" and tags(key) == {"greenrail:storage-class": "ONEZONE_IA"}


def test_a_bucket_taken_out_of_the_policy_or_exempted_while_its_job_runs_is_not_tagged(
        world: dict[str, Any]) -> None:
    """The bucket's tags are read again (at most once a minute): a job that outlives the bucket's
    opt-in, or its exemption, tags nothing more there."""
    from greenrail.flows import tag_merge

    key = "datasets/train/opted-out.bin"
    put(key)
    job_id = _job(account=ACCOUNT)
    try:
        for bucket_tags in ([], [{"Key": "greenrail:storage", "Value": "managed"}, {"Key": "greenrail:exempt", "Value": "true"}]):
            s3().put_bucket_tagging(Bucket=DATA, Tagging={"TagSet": bucket_tags}) if bucket_tags else \
                s3().delete_bucket_tagging(Bucket=DATA)
            tag_merge._buckets_seen.clear()  # a minute later
            result = _invoke(job_id, key)
            assert result["resultCode"] == "Succeeded" and "not tagged" in result["resultString"], result
            assert tags(key) == {}
    finally:
        s3().put_bucket_tagging(Bucket=DATA, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        tag_merge._buckets_seen.clear()
    assert _invoke(job_id, key)["resultCode"] == "Succeeded" and tags(key) == {"greenrail:storage-class": "ONEZONE_IA"}


def test_a_jobs_manifest_must_be_in_its_own_accounts_folder(world: dict[str, Any]) -> None:
    """Member accounts' Batch Operations roles read and write only their account's folder; a job
    claiming one account with a manifest of another account's folder lends nothing."""
    from greenrail.flows.tag_merge import _manifest_bucket_of

    chosen = policy()
    member, other = "210987654321", "333333333333"
    own_folder = f"{WORK}/greenrail/inventory/accounts/{member}/ml-data/run-1/merge-onezone_ia.csv"
    assert _manifest_bucket_of(own_folder, member, chosen) == "ml-data"
    assert _manifest_bucket_of(own_folder, other, chosen) is None
    assert _manifest_bucket_of(f"{WORK}/greenrail/inventory/ml-data/run-1/merge-onezone_ia.csv", member, chosen) is None
    assert _manifest_bucket_of(f"{WORK}/greenrail/manifests/ml-data/x-onezone_ia.csv", member, chosen) is None
    assert _manifest_bucket_of(f"{WORK}/greenrail/manifests/ml-data/x-onezone_ia.csv", ACCOUNT, chosen) == "ml-data"
    assert _manifest_bucket_of(f"other-bucket/greenrail/inventory/accounts/{member}/ml-data/r/m.csv", member, chosen) is None
