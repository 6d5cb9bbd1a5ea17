"""Greenrail's clients parse response timestamps as botocore does, without dateutil's per-value cost."""

from __future__ import annotations

import json
import time
from typing import Any

import botocore.session
import pytest
from botocore.utils import parse_timestamp as botocore_parse

from greenrail import aws

VALUES: list[Any] = [1700000000.123, 1700000000, 0, -86400.5, 1e10, 1700000000.999999, 1741000000.000001,
                     "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.250+02:00", "1700000000.5",
                     "Tue, 14 Nov 2023 22:13:20 GMT"]


def same(a: Any, b: Any) -> bool:
    return (a == b and repr(a) == repr(b) and a.isoformat() == b.isoformat() and a.fold == b.fold
            and a.utcoffset() == b.utcoffset() and type(a.tzinfo) is type(b.tzinfo))


def parse_list(session: Any, body: bytes) -> dict[str, Any]:
    shape = session.get_service_model("sagemaker").operation_model("ListTrainingJobs").output_shape
    parser = session.get_component("response_parser_factory").create_parser("json")
    return dict(parser.parse({"body": body, "headers": {}, "status_code": 200}, shape))


def test_a_listing_parses_to_botocore_s_datetimes_without_dateutil_s_conversion(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Greenrail's session parses a listing's epoch timestamps to botocore's very datetimes, and in
    a UTC zone (Lambda's) never through dateutil's ``tzlocal().fromutc``, the per-value cost of
    botocore's parser (~25 us a value; bench/scan_vs_custodian.py measures the scan)."""
    from dateutil.tz import tzlocal

    body = json.dumps({"TrainingJobSummaries": [
        {"TrainingJobName": f"j{i}", "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/j{i}",
         "CreationTime": 1700000000 + i * 37.125, "TrainingEndTime": 1700000000 + i,
         "LastModifiedTime": 1700003600.5 + i, "TrainingJobStatus": "InProgress"} for i in range(300)]}).encode()
    plain = botocore.session.Session()
    plain.register_component("data_loader", aws.data_loader())  # the same models: only the parsers differ
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    conversions: list[Any] = []
    convert = tzlocal.fromutc

    def counted(self: Any, moment: Any) -> Any:
        conversions.append(moment)
        return convert(self, moment)

    try:
        monkeypatch.setattr(tzlocal, "fromutc", counted)
        theirs = parse_list(plain, body)
        assert len(conversions) == 900  # botocore's: one conversion per value
        conversions.clear()
        ours = parse_list(aws.botocore_session(), body)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert ours == theirs and conversions == []
    for mine, botocore_s in zip(ours["TrainingJobSummaries"], theirs["TrainingJobSummaries"], strict=True):
        assert all(same(mine[k], botocore_s[k]) for k in ("CreationTime", "TrainingEndTime", "LastModifiedTime"))


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_every_value_and_zone_is_botocore_s(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        for value in VALUES:
            assert same(aws.parse_timestamp(value), botocore_parse(value)), value
        with pytest.raises(ValueError, match="Invalid timestamp"):
            aws.parse_timestamp("not a time")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_zone_changed_to_another_utc_zone_is_named_as_botocore_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path's tzlocal() is the zone's in force (its name: UTC, GMT), not the first one seen."""
    try:
        for zone in ("UTC", "Africa/Abidjan", "UTC"):
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            mine, theirs = aws.parse_timestamp(1700000000.5), botocore_parse(1700000000.5)
            assert same(mine, theirs) and mine.tzname() == theirs.tzname(), (zone, mine.tzname(), theirs.tzname())
    finally:
        monkeypatch.undo()
        time.tzset()
