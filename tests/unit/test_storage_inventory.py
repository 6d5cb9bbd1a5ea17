"""The storage policy on S3 Inventory rows: the rules, the aggregation, the tag-merge rule, the threshold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from greenrail import storage_inventory as inv
from greenrail.policies.storage import Bucket, StorageObject, StoragePolicy, decide

POLICY = StoragePolicy(exemptions={"name_patterns": [r"^secret/"]})
PRICES = inv.prices_for("us-east-1")
MIB = 1024 * 1024


def row(key: str, size: int, storage_class: str = "STANDARD") -> dict[str, str]:
    return {"Bucket": "b", "Key": key, "Size": str(size), "StorageClass": storage_class, "ETag": '"e"'}


def test_rows_are_decided_by_the_rules_that_need_no_tags() -> None:
    rows = [
        row("data/train/part%200.bin", 4 * MIB),                 # ONEZONE_IA, key URL-encoded as in CSV
        row("raw/clicks/a.json", 4 * MIB),                      # INTELLIGENT_TIERING
        row("data/train/tiny", 10),                              # under 128 KiB
        row("data/train/moved.bin", 4 * MIB, "ONEZONE_IA"),      # already in its class
        row("data/test/cold.bin", 4 * MIB, "GLACIER"),           # Lifecycle cannot move it back
        row("raw/clicks/small.json", 200 * 1024),                # IT monitoring fee > its saving
        row("secret/train/x.bin", 4 * MIB),                      # exempt by name
    ]
    outcome = inv.decide_rows(rows, POLICY, PRICES)
    assert [(c.key, c.target, c.prefix, c.etag) for c in outcome.candidates] == [
        ("data/train/part 0.bin", "ONEZONE_IA", "data/train/", "e"),
        ("raw/clicks/a.json", "INTELLIGENT_TIERING", "raw/clicks/", "e"),
    ]
    assert outcome.rows == 7 and outcome.skipped == {
        "under the minimum size": 1, "already in its class": 1, "Lifecycle cannot move it": 1,
        "would not save money": 1, "exempt": 1}


def test_the_row_rules_agree_with_the_object_decision() -> None:
    """What the inventory path tags is what the per-object decision would tag (before tags)."""
    for key, size, storage_class in [("raw/a.json", 200 * 1024, "STANDARD"), ("raw/a.json", 300 * 1024, "STANDARD"),
                                     ("d/train/x", 129 * 1024, "STANDARD_IA"), ("d/val/x", 5 * MIB, "INTELLIGENT_TIERING"),
                                     ("d/test/x", 5 * MIB, "DEEP_ARCHIVE")]:
        by_row = bool(inv.decide_rows([row(key, size, storage_class)], POLICY, PRICES).candidates)
        by_object = decide(StorageObject("b", key, size, "e", storage_class), Bucket("b"), POLICY, "1", "us-east-1")
        assert by_row == (by_object.action == "tag"), (key, size, storage_class)


def test_keys_are_decoded_even_when_their_slashes_are_encoded() -> None:
    rows = [row("data%2Ftrain%2Fa+b.bin", 4 * MIB), row("data/test/c%2Bd.bin", 4 * MIB)]
    assert [(c.key, c.target, c.prefix) for c in inv.decide_rows(rows, POLICY, PRICES).candidates] == [
        ("data/train/a b.bin", "ONEZONE_IA", "data/train/"), ("data/test/c+d.bin", "ONEZONE_IA", "data/test/")]


def test_parquet_rows_use_the_parquet_column_names_and_plain_keys() -> None:
    rows = [{"bucket": "b", "key": "data/train/100%.bin", "size": 4 * MIB, "storage_class": "STANDARD", "e_tag": "e"}]
    [candidate] = inv.decide_rows(rows, POLICY, PRICES).candidates
    assert candidate.key == "data/train/100%.bin"  # Parquet keys are not URL-encoded


def test_a_malformed_row_raises() -> None:
    with pytest.raises((KeyError, ValueError)):
        inv.decide_rows([row("data/train/a", 4 * MIB), {"Bucket": "b", "Key": "x", "Size": "garbage"}], POLICY, PRICES)


def test_one_group_per_target_class_and_prefix_with_counts_bytes_and_savings() -> None:
    rows = [row(f"data/train/shard-{i}/p.bin", 2 * MIB) for i in range(3)] + [row("raw/clicks/a.json", 8 * MIB)]
    batch_one = inv.aggregate(inv.decide_rows(rows[:2], POLICY, PRICES).candidates, PRICES)
    batch_two = inv.aggregate(inv.decide_rows(rows[2:], POLICY, PRICES).candidates, PRICES)
    groups = inv.merge_groups([batch_one, batch_two])
    assert [(g["target"], g["prefix"], g["objects"], g["bytes"]) for g in groups] == [
        ("INTELLIGENT_TIERING", "raw/clicks/", 1, 8 * MIB), ("ONEZONE_IA", "data/train/", 3, 6 * MIB)]
    per_object = sum(decide(StorageObject("b", r["Key"], int(r["Size"]), "e"), Bucket("b"), POLICY, "1",
                            "us-east-1").savings.usd_per_month for r in rows[:3])
    assert groups[1]["usd_per_month"] == pytest.approx(per_object, rel=1e-4)  # per-object figures are rounded
    assert groups[1]["from_classes"] == {"STANDARD": 3}


def test_prefix_depth() -> None:
    assert inv.key_prefix("a/b/c/d.bin", 2) == "a/b/"
    assert inv.key_prefix("a/d.bin", 2) == "a/"
    assert inv.key_prefix("d.bin", 2) == ""
    assert inv.key_prefix("a/b/c/d.bin", 0) == ""


def test_existing_tags_are_never_lost() -> None:
    existing = {"team": "vision", "cost-center": "42"}
    assert inv.merged_tags(existing, "greenrail:storage-class", "ONEZONE_IA") == {
        **existing, "greenrail:storage-class": "ONEZONE_IA"}
    full = {f"k{i}": "v" for i in range(10)}
    with pytest.raises(ValueError):
        inv.merged_tags(full, "greenrail:storage-class", "ONEZONE_IA")


def test_only_objects_without_any_tag_go_to_a_batch_operations_job() -> None:
    candidate = inv.Candidate("data/train/a", 4 * MIB, "STANDARD", "ONEZONE_IA", "data/train/")
    assert inv.route(candidate, {}, POLICY) == "batch"
    assert inv.route(candidate, {"team": "vision"}, POLICY) == "merge"
    assert inv.route(candidate, {"greenrail:storage-class": "INTELLIGENT_TIERING"}, POLICY) == "merge"
    assert inv.route(candidate, {"greenrail:storage-class": "ONEZONE_IA"}, POLICY) == "already"
    assert inv.route(candidate, {"greenrail:exempt": "true"}, POLICY) == "exempt"
    assert inv.route(candidate, {f"k{i}": "v" for i in range(10)}, POLICY) == "full"


def test_recommend_inventory_above_the_listing_threshold() -> None:
    from greenrail.flows.inventory import recommend_inventory

    policy = StoragePolicy(inventory={"listing_threshold": 1000})
    assert not inv.needs_inventory(1000, policy) and inv.needs_inventory(1001, policy)
    decision = recommend_inventory(Bucket("big"), policy, "123456789012", "us-east-1", 1001)
    assert decision.action == "recommend-inventory" and not decision.applied  # dry-run: nothing created
    assert decision.figures == {"listed_at_least": 1001, "listing_threshold": 1000}


def test_usable_inventories_and_manifests() -> None:
    configuration = {"IsEnabled": True, "OptionalFields": ["Size", "StorageClass"],
                     "Destination": {"S3BucketDestination": {"Format": "CSV"}}}
    assert inv.inventory_usable(configuration)
    assert not inv.inventory_usable({**configuration, "IsEnabled": False})
    assert not inv.inventory_usable({**configuration, "OptionalFields": ["StorageClass"]})
    assert not inv.inventory_usable({**configuration, "Destination": {"S3BucketDestination": {"Format": "ORC"}}})
    manifest = {"fileFormat": "CSV", "fileSchema": "Bucket, Key, Size, StorageClass", "files": []}
    assert inv.manifest_problems(manifest) == []
    assert inv.manifest_problems({**manifest, "fileSchema": "Bucket, Key"}) == ["no Size field"]
    parquet = {"fileFormat": "Parquet", "files": [],
               "fileSchema": "message s3.inventory { required binary bucket; required binary key; optional int64 size;}"}
    assert inv.manifest_problems(parquet) == []


# ---------------------------------------------------------------- the state machine's steps, malformed
BATCH_INPUT = {"bucket": "ml-data", "account": "123456789012", "region": "us-east-1", "run": "r1",
               "work_bucket": "greenrail-manifests", "format": "CSV"}


def test_a_batch_of_malformed_rows_fails_without_echoing_a_value() -> None:
    from greenrail.flows.inventory import BatchRequest, MalformedBatch, decide_batch

    request = BatchRequest.model_validate({"Items": [{"Bucket": "b", "Key": "data/train/a", "Size": "secret-size"}],
                                           "BatchInput": BATCH_INPUT})
    with pytest.raises(MalformedBatch) as refused:
        decide_batch(request, POLICY)
    assert str(refused.value) == "malformed inventory rows: ValueError"


def test_malformed_step_inputs_do_nothing(lambda_context: object, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any AWS call: a prepare or finish input is malformed (logged, counted); a
    batch fails (the Map goes on, finish reports it) instead of crashing on a missing field."""
    from greenrail.flows.inventory import MalformedBatch
    from tests.conftest import load_function

    handler = load_function("storage_inventory").handler
    state = {"bucket": "ml-data", "account": "123456789012", "region": "us-east-1", "run": "r1",
             "work_bucket": "greenrail-manifests", "manifest": {"Bucket": "inventories", "Key": "m/manifest.json"}}
    for event in ({"prepare": "RUNNING"}, {"prepare": {**state, "manifest": None}}, {"finish": {**state, "run": 7}},
                  {"finish": {**state, "prepared": {"problems": [{"x": 1}]}}},
                  {"finish": {**state, "map": {"ResultWriterDetails": {"Bucket": "b", "Key": ["k"]}}}},
                  {"finish": {**state, "map_error": "States.Timeout"}}, ["prepare"], {"Item": []}):
        assert handler(event, lambda_context)["status"] == "malformed", event
    for batch in ({"Items": [], "BatchInput": BATCH_INPUT}, {"Items": [{"Key": "k"}], "BatchInput": "x"},
                  {"Items": [{"Key": "k"}], "BatchInput": {**BATCH_INPUT, "region": "secret-region"}}):
        with pytest.raises(MalformedBatch) as refused:
            handler(batch, lambda_context)
        assert "secret" not in str(refused.value)
    out = capsys.readouterr().out
    assert out.count('"MalformedEvent":[') == 11 and "secret" not in out


# ---------------------------------------------------------------- the steps on S3 (moto): what real S3 answers
ENFORCE = StoragePolicy(mode="enforce")
TRAIN_KEY = "datasets/train/part-0.bin"


@pytest.fixture(scope="module")
def s3_world() -> Iterator[Any]:
    from moto import mock_aws

    from greenrail import aws

    with mock_aws():
        aws.reset_clients()
        s3 = aws.client("s3")
        for bucket in ("ml-data", "greenrail-manifests", "acme-inventory"):
            s3.create_bucket(Bucket=bucket)
        yield s3
        aws.reset_clients()


def _answer(operation: str, code: str, status: int, when: Any) -> None:
    """S3 answers ``code`` to ``operation`` when ``when(params)``: what real S3 answers a role
    without s3:ListBucket for a key that is not there (403, not 404)."""
    from botocore.awsrequest import AWSResponse

    from greenrail import aws

    def answer(params: dict[str, Any], **_: Any) -> Any:
        if when(params):
            return AWSResponse("https://s3", status, {}, None), {
                "Error": {"Code": code, "Message": "Forbidden"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return None

    aws.client("s3").meta.events.register(f"before-call.s3.{operation}", answer)  # the code's client


def _batch(key: str) -> Any:
    from greenrail.flows.inventory import BatchRequest

    return BatchRequest.model_validate({"Items": [row(key, 4 * MIB)], "BatchInput": BATCH_INPUT})


class _Unbounded:
    def acquire(self, subject: str) -> bool:
        return True


def test_tags_added_after_the_batch_read_them_are_kept_by_the_merge(s3_world: Any) -> None:
    """tagging: replace: the merge of an object read with tags happens in Finish, after the whole
    Map: the object's tags are read again then."""
    from greenrail.flows.inventory import FinishRequest, _tag, decide_batch

    replace = StoragePolicy(mode="enforce", inventory={"tagging": "replace"})
    s3_world.put_object(Bucket="ml-data", Key=TRAIN_KEY, Body=b"x", Tagging="team=vision")
    output = decide_batch(_batch(TRAIN_KEY), replace)
    assert output["routes"] == {"merge": 1}
    s3_world.put_object_tagging(Bucket="ml-data", Key=TRAIN_KEY, Tagging={"TagSet": [
        {"Key": "team", "Value": "vision"}, {"Key": "project", "Value": "cats"}]})  # while the Map ran
    request = FinishRequest.model_validate({**BATCH_INPUT, "manifest": {"Bucket": "acme-inventory", "Key": "m.json"}})
    merged = {"tagged": 0, "held_back": 0, "errors": 0}
    _tag(request, [output], replace, _Unbounded(), merged)
    tags = {t["Key"]: t["Value"] for t in s3_world.get_object_tagging(Bucket="ml-data", Key=TRAIN_KEY)["TagSet"]}
    assert tags == {"team": "vision", "project": "cats", "greenrail:storage-class": "ONEZONE_IA"}
    assert merged["tagged"] == 1


def test_an_object_deleted_since_the_inventory_does_not_fail_its_batch(s3_world: Any) -> None:
    """Without s3:ListBucket (StorageInventoryFunction has none on governed buckets) S3 answers
    403, not 404, for a key that is gone: the object is skipped, the batch goes on."""
    from greenrail.flows.inventory import decide_batch

    _answer("GetObjectTagging", "AccessDenied", 403, lambda params: params["url_path"].startswith("/datasets/train/deleted.bin"))
    output = decide_batch(_batch("datasets/train/deleted.bin"), ENFORCE)
    assert output["routes"] == {"gone": 1} and output["fragment"] is None


def test_an_inventory_file_that_is_gone_is_named_even_when_s3_answers_403(s3_world: Any) -> None:
    import json

    from greenrail.flows.inventory import PrepareRequest, prepare

    manifest = {"sourceBucket": "ml-data", "destinationBucket": "arn:aws:s3:::acme-inventory", "fileFormat": "CSV",
                "fileSchema": "Bucket, Key, Size, StorageClass, ETag",
                "files": [{"key": "inv/data/present.csv.gz"}, {"key": "inv/data/gone.csv.gz"}]}
    s3_world.put_object(Bucket="acme-inventory", Key="inv/manifest.json", Body=json.dumps(manifest).encode())
    s3_world.put_object(Bucket="acme-inventory", Key="inv/data/present.csv.gz", Body=b"\x1f\x8b")
    _answer("GetObject", "AccessDenied", 403, lambda params: params["url_path"].endswith("gone.csv.gz"))
    out = prepare(PrepareRequest.model_validate(
        {**BATCH_INPUT, "manifest": {"Bucket": "acme-inventory", "Key": "inv/manifest.json"}}))
    assert out["gone"] == ["inv/data/gone.csv.gz"] and out["files"] == 1 and out["problems"] == []


def test_objects_without_tags_that_get_no_batch_job_are_held_back_not_reported_tagged(s3_world: Any) -> None:
    """Enforce mode without a Batch Operations role: the decision must not say they were tagged."""
    import json

    from greenrail.flows.inventory import FinishRequest, conclude, decide_batch

    key = "datasets/train/untagged.bin"
    s3_world.put_object(Bucket="ml-data", Key=key, Body=b"x")
    output = decide_batch(_batch(key), ENFORCE)
    assert output["routes"] == {"batch": 1}
    s3_world.put_object(Bucket="greenrail-manifests", Key="r/SUCCEEDED_0.json",
                        Body=json.dumps([{"Output": json.dumps({"Payload": output})}]).encode())
    s3_world.put_object(Bucket="greenrail-manifests", Key="r/manifest.json", Body=json.dumps(
        {"DestinationBucket": "greenrail-manifests", "ResultFiles": {"SUCCEEDED": [{"Key": "r/SUCCEEDED_0.json"}]}}))
    request = FinishRequest.model_validate({**BATCH_INPUT, "manifest": {"Bucket": "acme-inventory", "Key": "m.json"},
                                            "map": {"ResultWriterDetails": {"Bucket": "greenrail-manifests",
                                                                            "Key": "r/manifest.json"}}})
    [decision] = conclude(request, ENFORCE, _Unbounded())
    assert decision.action == "batch-tag" and decision.held_back and not decision.applied
    assert "tagged greenrail" not in decision.reason and "batch_operations_role_arn" in decision.reason
    assert s3_world.get_object_tagging(Bucket="ml-data", Key=key)["TagSet"] == []


def test_an_inventory_file_that_is_not_gzip_is_left_out_and_named_the_others_are_read(s3_world: Any) -> None:
    """The Distributed Map's ItemReader fails the whole Map on a file it cannot decompress: prepare
    checks each file's first bytes (one ranged GET, what HEAD cost) and leaves such a file out."""
    import json

    from greenrail.flows.inventory import PrepareRequest, prepare

    manifest = {"sourceBucket": "ml-data", "destinationBucket": "arn:aws:s3:::acme-inventory", "fileFormat": "CSV",
                "fileSchema": "Bucket, Key, Size, StorageClass, ETag",
                "files": [{"key": "inv2/data/good.csv.gz"}, {"key": "inv2/data/corrupt.csv.gz"}]}
    s3_world.put_object(Bucket="acme-inventory", Key="inv2/manifest.json", Body=json.dumps(manifest).encode())
    s3_world.put_object(Bucket="acme-inventory", Key="inv2/data/good.csv.gz", Body=b"\x1f\x8b\x08\x00rest")
    s3_world.put_object(Bucket="acme-inventory", Key="inv2/data/corrupt.csv.gz", Body=b"not gzip at all")
    out = prepare(PrepareRequest.model_validate(
        {**BATCH_INPUT, "manifest": {"Bucket": "acme-inventory", "Key": "inv2/manifest.json"}}))
    assert out["files"] == 1 and out["unreadable"] == ["inv2/data/corrupt.csv.gz"] and out["gone"] == []
    checked = json.loads(s3_world.get_object(Bucket=out["manifest"]["Bucket"], Key=out["manifest"]["Key"])["Body"].read())
    assert [entry["key"] for entry in checked["files"]] == ["inv2/data/good.csv.gz"]
