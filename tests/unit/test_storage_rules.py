"""Storage policy rules: classification, skips, savings arithmetic, lifecycle merging."""

from __future__ import annotations

import pytest

from greenrail.carbon import storage_kgco2e_per_gb_month
from greenrail.config import Exemptions
from greenrail.decision import Mode
from greenrail.policies.storage import (
    Bucket,
    StorageObject,
    StoragePolicy,
    classify,
    decide,
    is_governed,
    managed_rules,
    merge_lifecycle,
    monthly_savings,
)

POLICY = StoragePolicy()
BUCKET = Bucket("ml", {"greenrail:storage": "managed"})
MIB = 1024 * 1024


def obj(key: str, size: int = 10 * MIB, storage_class: str = "STANDARD", tags: dict[str, str] | None = None) -> StorageObject:
    return StorageObject("ml", key, size, "etag", storage_class, tags or {})


@pytest.mark.parametrize(("key", "expected"), [
    ("datasets/train/part-0.parquet", ("train", "ONEZONE_IA")),
    ("x/TRAINING/a.csv", ("training", "ONEZONE_IA")),
    ("a/val/b/c.npy", ("val", "ONEZONE_IA")),
    ("validation/labels.csv", ("validation", "ONEZONE_IA")),
    ("raw/clicks.json", ("other", "INTELLIGENT_TIERING")),
    ("trainer/model.tar.gz", ("other", "INTELLIGENT_TIERING")),   # a segment, not a prefix
    ("data/train.csv", ("other", "INTELLIGENT_TIERING")),         # the file name is not a segment
])
def test_classify_by_path_segment(key: str, expected: tuple[str, str]) -> None:
    assert classify(key, POLICY) == expected


def test_governed_by_tag_or_list() -> None:
    assert is_governed(BUCKET, POLICY)
    assert not is_governed(Bucket("other"), POLICY)
    assert is_governed(Bucket("listed"), StoragePolicy(buckets=["listed"]))
    assert not is_governed(Bucket("x", {"greenrail:storage": "unmanaged"}), POLICY)


def test_tag_decision_carries_target_and_savings() -> None:
    decision = decide(obj("d/train/a.parquet"), BUCKET, POLICY, "123456789012", "us-east-1", "ev-1")
    assert decision.action == "tag" and not decision.compliant and not decision.applied
    assert decision.target == {"storage_class": "ONEZONE_IA"}
    assert decision.resource == "arn:aws:s3:::ml/d/train/a.parquet"
    assert decision.mode == Mode.DRY_RUN and decision.event_id == "ev-1"
    # 10 MiB = 0.009765625 GiB; (0.023 - 0.01) $/GB-month x 0.009765625 = 0.000126953
    assert decision.savings.usd_per_month == pytest.approx(0.000127, abs=1e-6)
    assert decision.savings.kgco2e_per_month > 0


@pytest.mark.parametrize(("candidate", "bucket", "why"), [
    (obj("d/train/a", size=128 * 1024 - 1), BUCKET, "minimum"),
    (obj("d/train/a", tags={"greenrail:exempt": "true"}), BUCKET, "object is exempt"),
    (obj("d/train/a"), Bucket("ml", {"greenrail:storage": "managed", "greenrail:exempt": "TRUE"}), "bucket ml is exempt"),
    (obj("d/train/a", storage_class="ONEZONE_IA"), BUCKET, "already in ONEZONE_IA"),
    (obj("d/train/a", tags={"greenrail:storage-class": "ONEZONE_IA"}), BUCKET, "already tagged"),
])
def test_skips(candidate: StorageObject, bucket: Bucket, why: str) -> None:
    decision = decide(candidate, bucket, POLICY, "123456789012", "us-east-1")
    assert decision.action == "none" and decision.compliant
    assert why in decision.reason


def test_exactly_the_minimum_size_is_tiered() -> None:
    assert decide(obj("d/train/a", size=128 * 1024), BUCKET, POLICY, "1", "us-east-1").action == "tag"


def test_name_pattern_exemption() -> None:
    policy = StoragePolicy(exemptions=Exemptions(name_patterns=[r"^golden/"]))
    assert decide(obj("golden/train/a"), BUCKET, policy, "1", "us-east-1").action == "none"


def test_intelligent_tiering_savings_subtract_the_monitoring_fee() -> None:
    savings, figures = monthly_savings(1024**3, "STANDARD", "INTELLIGENT_TIERING", "us-east-1")
    # 1 GiB: 0.023 - 0.0125 = 0.0105 $/month, less 0.0025/1000 $ monitoring = 0.0104975
    assert savings.usd_per_month == pytest.approx(0.0104975)
    assert savings.kgco2e_per_month == pytest.approx(0.0)  # same replication: no carbon claimed
    assert figures["monitoring_fee_usd_month"] == pytest.approx(0.0000025)


def test_one_zone_carbon_follows_replication_factor() -> None:
    savings, _ = monthly_savings(1024**3, "STANDARD", "ONEZONE_IA", "eu-west-1")
    expected = storage_kgco2e_per_gb_month("STANDARD", "eu-west-1") - storage_kgco2e_per_gb_month("ONEZONE_IA", "eu-west-1")
    assert savings.kgco2e_per_month == pytest.approx(expected, rel=1e-6)
    assert expected > 0


def test_managed_rules_are_tag_filtered_transitions() -> None:
    rules = {rule["ID"]: rule for rule in managed_rules(POLICY)}
    assert set(rules) == {"greenrail-onezone-ia", "greenrail-intelligent-tiering"}
    assert rules["greenrail-onezone-ia"]["Filter"] == {"Tag": {"Key": "greenrail:storage-class", "Value": "ONEZONE_IA"}}
    assert rules["greenrail-onezone-ia"]["Transitions"] == [{"Days": 30, "StorageClass": "ONEZONE_IA"}]
    assert rules["greenrail-intelligent-tiering"]["Transitions"] == [{"Days": 0, "StorageClass": "INTELLIGENT_TIERING"}]


def test_merge_keeps_the_buckets_own_rules_and_is_stable() -> None:
    own = {"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}
    stale = {"ID": "greenrail-onezone-ia", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
             "Transitions": [{"Days": 90, "StorageClass": "ONEZONE_IA"}]}
    merged = merge_lifecycle([own, stale], POLICY)
    assert merged is not None
    assert merged[0] == own
    assert [r["ID"] for r in merged[1:]] == [r["ID"] for r in managed_rules(POLICY)]
    assert merge_lifecycle(merged, POLICY) is None  # nothing to change the second time


def test_transition_days_below_the_ia_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 30 days"):
        StoragePolicy(transition_days={"ONEZONE_IA": 10})


@pytest.mark.parametrize(("key", "current", "why"), [
    ("raw/a.bin", "ONEZONE_IA", "cannot move ONEZONE_IA objects to INTELLIGENT_TIERING"),
    ("d/train/a.bin", "GLACIER_IR", "cannot move GLACIER_IR objects to ONEZONE_IA"),
    ("d/train/a.bin", "DEEP_ARCHIVE", "cannot move DEEP_ARCHIVE"),
    ("raw/a.bin", "STANDARD_IA", "would not save money"),  # IT's IA tier costs what Standard-IA does, plus the fee
])
def test_no_tag_where_lifecycle_cannot_move_it_or_it_would_not_pay(key: str, current: str, why: str) -> None:
    decision = decide(obj(key, storage_class=current), BUCKET, POLICY, "1", "us-east-1")
    assert decision.action == "none" and why in decision.reason


def test_intelligent_tiering_below_its_monitoring_fee_is_not_worth_it() -> None:
    # 130 KiB: 0.000124 GB x 0.0105 $ = 0.0000013 $/month < 0.0000025 $ monitoring fee
    decision = decide(obj("raw/small.json", size=130 * 1024), BUCKET, POLICY, "1", "us-east-1")
    assert decision.action == "none" and "would not save money" in decision.reason


def test_tags_are_read_in_the_account_acted_in_even_from_worker_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from greenrail import aws
    from greenrail.adapters import s3
    from greenrail.policies import storage

    monkeypatch.setenv("GREENRAIL_MEMBER_ROLE_NAME", "GreenrailExecution")
    monkeypatch.setenv("GREENRAIL_ACCOUNT_ID", "111111111111")
    aws.reset_clients()
    listing = [{"Key": f"d/train/{i}.bin", "Size": 10 * MIB, "ETag": '"e"'} for i in range(20)]
    monkeypatch.setattr(s3, "list_objects", lambda bucket: iter(listing))
    roles: list[str | None] = []
    monkeypatch.setattr(s3, "object_tags", lambda bucket, key: roles.append(aws._acting_role.get()) or {})
    with aws.acting_in("222233334444"):
        storage.scan_bucket(BUCKET, POLICY, "222233334444", "us-east-1", Mode.DRY_RUN, concurrency=4)
    assert roles == ["arn:aws:iam::222233334444:role/GreenrailExecution"] * 20
