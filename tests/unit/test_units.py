"""Numbers in reasons, notifications and digests read as people write them: never an exponent."""

from __future__ import annotations

import pytest

from greenrail.units import plain, usd


@pytest.mark.parametrize(("value", "money", "quantity"), [
    (3.809e-05, "0.00003809", "0.00003809"),
    (0.0, "0.00", "0"),
    (0.5, "0.50", "0.5"),
    (1234.5, "1,234.50", "1,234"),
    (12.3456, "12.35", "12.35"),
    (1.2e-05, "0.000012", "0.000012"),
])
def test_no_exponent(value: float, money: str, quantity: str) -> None:
    assert (usd(value), plain(value)) == (money, quantity)


def test_a_storage_reason_names_a_fraction_of_a_cent_in_decimals() -> None:
    from greenrail.policies import storage

    policy = storage.StoragePolicy(buckets=["ml-data"])
    obj = storage.StorageObject(bucket="ml-data", key="train/part-0.csv", size=200_000, etag="e")
    decision = storage.decide(obj, storage.Bucket("ml-data", {}), policy, "123456789012", "us-east-1")
    assert decision.action == "tag" and "e-0" not in decision.reason and "$0.00" in decision.reason
