"""ASFF findings built from decisions, and their import in batches (no AWS)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from greenrail import audit
from greenrail.decision import Decision, Mode, Savings

ACCOUNT = "123456789012"
REQUIRED = {
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
}


def decision(**overrides: Any) -> Decision:
    fields: dict[str, Any] = {
        "policy": "storage",
        "resource": "s3://bucket/datasets/train/part-0001.parquet",
        "account": ACCOUNT,
        "region": "eu-west-1",
        "action": "tag",
        "target": {"storage_class": "ONEZONE_IA"},
        "mode": Mode.DRY_RUN,
        "reason": "training data: One Zone-IA",
        "figures": {"size_bytes": 1_048_576, "age_days": 45},
        "savings": Savings(usd_per_month=0.42, kgco2e_per_month=0.01),
        "event_id": "evt-1",
        "severity": "LOW",
        "decided_at": datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
    }
    fields.update(overrides)
    return Decision(**fields)


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")


class TestRequiredFields:
    def test_all_required_present_and_well_formed(self) -> None:
        finding = audit.to_finding(decision())
        assert REQUIRED <= set(finding)
        assert finding["SchemaVersion"] == "2018-10-08"
        assert finding["ProductArn"] == f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
        assert finding["GeneratorId"] == "greenrail-storage"
        assert finding["AwsAccountId"] == ACCOUNT
        assert finding["Types"] == ["Software and Configuration Checks/Cost Optimization/Greenrail storage"]
        assert len(finding["Types"][0].split("/")) == 3
        assert finding["CreatedAt"] == finding["UpdatedAt"] == "2025-01-02T03:04:05.678Z"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", finding["UpdatedAt"])
        assert finding["Severity"] == {"Label": "LOW"}
        assert 1 <= len(finding["Resources"]) <= 32

    def test_naive_time_is_utc(self) -> None:
        finding = audit.to_finding(decision(decided_at=datetime(2025, 1, 2, 3, 4, 5)))
        assert finding["UpdatedAt"] == "2025-01-02T03:04:05.000Z"

    def test_partition_follows_region(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_REGION", "cn-north-1")
        finding = audit.to_finding(decision(region="cn-north-1"))
        assert finding["ProductArn"].startswith("arn:aws-cn:securityhub:cn-north-1:")
        assert finding["Resources"][0]["Id"].startswith("arn:aws-cn:s3:::")


class TestId:
    def test_deterministic_per_policy_and_resource(self) -> None:
        first = audit.to_finding(decision())
        later = audit.to_finding(
            decision(mode=Mode.ENFORCE, applied=True, decided_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
        assert first["Id"] == later["Id"]
        assert first["Id"] != audit.to_finding(decision(policy="carbon"))["Id"]
        assert first["Id"] != audit.to_finding(decision(resource="s3://bucket/other"))["Id"]

    def test_shape_and_length(self) -> None:
        finding_id = audit.finding_id("storage", "s3://b/" + "k" * 5000)
        assert re.fullmatch(r"greenrail/storage/[0-9a-f]{32}", finding_id)
        assert len(audit.finding_id("p" * 1000, "r")) <= 512


class TestStatus:
    def test_violation_failed_active(self) -> None:
        finding = audit.to_finding(decision(compliant=False, severity="medium"))
        assert finding["Compliance"] == {"Status": "FAILED"}
        assert finding["RecordState"] == "ACTIVE"
        assert finding["Severity"] == {"Label": "MEDIUM"}

    def test_compliant_passed_archived(self) -> None:
        finding = audit.to_finding(decision(compliant=True, action="none", severity="HIGH"))
        assert finding["Compliance"] == {"Status": "PASSED"}
        assert finding["RecordState"] == "ARCHIVED"
        assert finding["Severity"] == {"Label": "INFORMATIONAL"}
        assert "complies" in finding["Title"]

    def test_informational_record_has_no_compliance(self) -> None:
        finding = audit.to_finding(decision(policy="carbon", severity="INFORMATIONAL", action="publish-carbon-record"))
        assert "Compliance" not in finding
        assert finding["RecordState"] == "ACTIVE"
        assert finding["Severity"] == {"Label": "INFORMATIONAL"}

    def test_unknown_severity_falls_back_to_low(self) -> None:
        assert audit.to_finding(decision(severity="urgent"))["Severity"] == {"Label": "LOW"}


class TestTruncation:
    def test_title_and_description(self) -> None:
        finding = audit.to_finding(decision(resource="s3://b/" + "k" * 600, reason="x" * 5000))
        assert len(finding["Title"]) == audit.TITLE_MAX
        assert finding["Title"].endswith("…")
        assert len(finding["Description"]) == audit.DESCRIPTION_MAX
        assert finding["Description"].endswith("…")

    def test_empty_reason_still_describes(self) -> None:
        assert audit.to_finding(decision(reason="   "))["Description"].startswith("No reason given.")

    def test_short_text_untouched(self) -> None:
        assert audit.truncate("abc", 3) == "abc"
        assert audit.truncate("abcd", 3) == "ab…"


class TestResources:
    @pytest.mark.parametrize(
        ("resource", "kind", "resource_id"),
        [
            ("s3://b/k/x.csv", "AwsS3Object", "arn:aws:s3:::b/k/x.csv"),
            ("arn:aws:s3:::b/k/x.csv", "AwsS3Object", "arn:aws:s3:::b/k/x.csv"),
            ("s3://b", "AwsS3Bucket", "arn:aws:s3:::b"),
            ("s3://b/", "AwsS3Bucket", "arn:aws:s3:::b"),
            ("arn:aws:s3:::b", "AwsS3Bucket", "arn:aws:s3:::b"),
        ],
    )
    def test_s3(self, resource: str, kind: str, resource_id: str) -> None:
        entry = audit.to_finding(decision(resource=resource))["Resources"][0]
        assert entry["Type"] == kind
        assert entry["Id"] == resource_id
        assert entry["Region"] == "eu-west-1"
        assert entry["Partition"] == "aws"

    def test_sagemaker_is_other_with_string_details(self) -> None:
        arn = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:training-job/big-run"
        entry = audit.to_finding(
            decision(policy="training", resource=arn, action="stop", target={"after_minutes": 60})
        )["Resources"][0]
        assert entry["Type"] == "Other"
        assert entry["Id"] == arn
        other = entry["Details"]["Other"]
        assert other["Service"] == "sagemaker"
        assert other["ResourceType"] == "training-job"
        assert other["Name"] == "big-run"
        assert other["target.after_minutes"] == "60"
        assert all(isinstance(v, str) for v in other.values())


class TestProductFields:
    def test_carries_decision_data_as_strings(self) -> None:
        fields = audit.to_finding(decision())["ProductFields"]
        assert fields["greenrail/policy"] == "storage"
        assert fields["greenrail/action"] == "tag"
        assert fields["greenrail/mode"] == "dry-run"
        assert fields["greenrail/applied"] == "false"
        assert fields["greenrail/savings/usd_per_month"] == "0.4200"
        assert fields["greenrail/savings/kgco2e_per_month"] == "0.0100"
        assert fields["greenrail/event_id"] == "evt-1"
        assert fields["greenrail/target/storage_class"] == "ONEZONE_IA"
        assert fields["greenrail/figures/size_bytes"] == "1048576"
        assert all(isinstance(v, str) and v for v in fields.values())

    def test_nested_figures_flattened_and_capped(self) -> None:
        figures: dict[str, Any] = {f"m{i:03d}": {"p50": i / 3, "series": [1, 2]} for i in range(100)}
        figures["note"] = "n" * 10_000
        fields = audit.to_finding(decision(figures=figures))["ProductFields"]
        assert len(fields) == audit.PRODUCT_FIELDS_MAX
        assert fields["greenrail/figures/m000/p50"] == "0"
        assert fields["greenrail/figures/m000/series"] == "[1, 2]"
        assert fields["greenrail/policy"] == "storage"  # fixed fields always kept
        assert all(len(k) <= 128 and len(v) <= 2048 for k, v in fields.items())


class FakeSecurityHub:
    def __init__(self, refuse: set[str] | None = None):
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse = refuse or set()

    def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(Findings)
        failed = [
            {"Id": f["Id"], "ErrorCode": "InvalidInput", "ErrorMessage": "nope"}
            for f in Findings
            if f["Id"] in self.refuse
        ]
        return {
            "FailedCount": len(failed),
            "SuccessCount": len(Findings) - len(failed),
            "FailedFindings": failed,
        }


def many(count: int) -> list[Decision]:
    return [decision(resource=f"s3://bucket/obj-{i}") for i in range(count)]


class TestImport:
    def test_250_findings_three_calls(self) -> None:
        hub = FakeSecurityHub()
        assert audit.audit(many(250), securityhub=hub) == 250
        assert [len(call) for call in hub.calls] == [100, 100, 50]

    def test_failures_do_not_stop_the_rest_then_raise(self) -> None:
        decisions = many(150)
        refused = {
            audit.finding_id("storage", "s3://bucket/obj-3"),
            audit.finding_id("storage", "s3://bucket/obj-120"),
        }
        hub = FakeSecurityHub(refuse=refused)
        with pytest.raises(audit.FindingsImportError) as raised:
            audit.audit(decisions, securityhub=hub)
        assert len(hub.calls) == 2
        assert raised.value.imported == 148
        assert {f["Id"] for f in raised.value.failed} == refused
        assert all(f["ErrorCode"] == "InvalidInput" for f in raised.value.failed)
        for finding_id in refused:
            assert finding_id in str(raised.value)

    def test_same_resource_twice_in_a_batch_keeps_newest(self) -> None:
        old = decision(decided_at=datetime(2025, 1, 1, tzinfo=UTC), mode=Mode.DRY_RUN)
        new = decision(decided_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=1), mode=Mode.ENFORCE)
        hub = FakeSecurityHub()
        assert audit.audit([new, old], securityhub=hub) == 1
        assert hub.calls[0][0]["ProductFields"]["greenrail/mode"] == "enforce"

    def test_nothing_to_import_makes_no_call(self) -> None:
        hub = FakeSecurityHub()
        assert audit.audit([], securityhub=hub) == 0
        assert hub.calls == []
