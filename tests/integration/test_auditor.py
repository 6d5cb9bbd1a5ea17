"""The auditor handler against moto's Security Hub.

moto 5.2.5: GetFindings ignores filters, and an import with a known Id updates that finding in
place (it does not compare UpdatedAt as Security Hub does).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail import aws
from greenrail.audit import finding_id
from greenrail.decision import Decision, Mode, Savings
from tests.conftest import Context, load_function

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


load_handler = load_function


LambdaContext = Context  # the shared Lambda context of tests/conftest.py


@pytest.fixture
def securityhub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "GREENRAIL_AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    aws.reset_clients()
    with mock_aws():
        hub = boto3.client("securityhub", region_name=REGION)
        hub.enable_security_hub()
        yield hub
    aws.reset_clients()


@pytest.fixture
def handler() -> Any:
    return load_handler("auditor").handler


def event(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "policy": "training",
        "resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/big-run",
        "account": ACCOUNT,
        "region": REGION,
        "action": "stop",
        "mode": Mode.DRY_RUN,
        "reason": "GPU utilization under 5% for 60 minutes",
        "figures": {"gpu_utilization_percent": 1.5, "instance_type": "ml.p4d.24xlarge"},
        "savings": Savings(usd_per_month=812.5, kgco2e_per_month=41.2),
        "event_id": "evt-1",
        "severity": "MEDIUM",
        "decided_at": T0,
    }
    fields.update(overrides)
    entry = Decision(**fields).to_event_entry("greenrail")
    return {
        "version": "0",
        "id": "evt-envelope",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": ACCOUNT,
        "time": "2025-01-02T03:04:05Z",
        "region": REGION,
        "resources": entry["Resources"],
        "detail": entry["Detail"],  # as a JSON string: from_event accepts both
    }


def findings(hub: Any) -> list[dict[str, Any]]:
    return hub.get_findings()["Findings"]


def test_violation_imported_as_failed_active(securityhub: Any, handler: Any) -> None:
    result = handler(event(), LambdaContext())

    assert result == {"status": "imported", "imported": 1, "malformed": 0, "forged": 0}
    [finding] = findings(securityhub)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/big-run"
    assert finding["Id"] == finding_id("training", arn)
    assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    assert finding["GeneratorId"] == "greenrail-training"
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["RecordState"] == "ACTIVE"
    assert finding["Severity"]["Label"] == "MEDIUM"
    resource = finding["Resources"][0]
    assert resource["Type"] == "Other"
    assert resource["Id"] == arn
    assert resource["Details"]["Other"]["ResourceType"] == "training-job"
    assert finding["ProductFields"]["greenrail/figures/instance_type"] == "ml.p4d.24xlarge"


def test_same_decision_twice_one_finding_then_compliant_passed_archived(
    securityhub: Any, handler: Any
) -> None:
    handler(event(), LambdaContext())
    handler(event(), LambdaContext())  # an async retry: same Id, nothing new
    assert len(findings(securityhub)) == 1

    handler(event(mode=Mode.ENFORCE, applied=True, decided_at=T0 + timedelta(minutes=15)), LambdaContext())
    [updated] = findings(securityhub)
    assert updated["ProductFields"]["greenrail/mode"] == "enforce"
    assert updated["ProductFields"]["greenrail/applied"] == "true"
    assert updated["UpdatedAt"] == "2025-01-02T03:19:05.000Z"

    handler(
        event(action="none", compliant=True, reason="job stopped", decided_at=T0 + timedelta(minutes=30)),
        LambdaContext(),
    )
    [resolved] = findings(securityhub)
    assert resolved["Id"] == updated["Id"]
    assert resolved["Compliance"]["Status"] == "PASSED"
    assert resolved["RecordState"] == "ARCHIVED"
    assert resolved["Severity"]["Label"] == "INFORMATIONAL"


def test_batch_list_with_a_malformed_event(
    securityhub: Any, handler: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    bad = event()
    bad["detail"] = json.dumps({"policy": "training"})
    batch = [
        event(),
        event(policy="storage", resource="s3://bucket/train/part-1", action="tag", severity="LOW"),
        bad,
    ]

    result = handler(batch, LambdaContext())

    assert result == {"status": "imported", "imported": 2, "malformed": 1, "forged": 0}
    kinds = {f["Resources"][0]["Type"] for f in findings(securityhub)}
    assert kinds == {"Other", "AwsS3Object"}
    assert "malformed Greenrail Decision event" in caplog.text
    metrics = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line)
    assert metrics["MalformedDecision"] in ([1.0], 1.0)
    assert metrics["FindingsImported"] in ([2.0], 2.0)


def test_only_malformed_does_not_raise(securityhub: Any, handler: Any) -> None:
    assert handler({"detail": {}}, LambdaContext())["status"] == "malformed"
    assert handler("not an event", LambdaContext())["status"] == "malformed"  # type: ignore[arg-type]
    assert findings(securityhub) == []


def metrics_of(out: str) -> dict[str, Any]:
    found: dict[str, Any] = next(json.loads(line) for line in out.splitlines() if '"_aws"' in line)
    return found


def test_malformed_event_logs_field_names_never_values(
    securityhub: Any, handler: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    bad = event()
    bad["id"] = "evt-value-not-for-logs"
    bad["detail-type"] = "Greenrail Decision from-someone-private"
    bad["detail"] = json.dumps({"policy": "training", "resource": "arn:aws:s3:::private-bucket/alice/cv.pdf"})

    assert handler(bad, LambdaContext())["status"] == "malformed"

    records = "\n".join(json.dumps(vars(record), default=str) for record in caplog.records)
    logged = capsys.readouterr().out + records
    assert "malformed Greenrail Decision event" in logged
    assert '"account"' in logged and "Field required" in logged  # which field, and what is wrong with it
    for value in ("evt-value-not-for-logs", "from-someone-private", "alice/cv.pdf"):
        assert value not in logged


# ---------------------------------------------------------------- which accounts the auditor accepts
@pytest.fixture
def organization(securityhub: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """An Organization deployment: this (moto's default) account manages an Organization with one member.
    (The auditor's cache of the Organization's accounts is forgotten with the clients, per test.)"""
    monkeypatch.setenv("GREENRAIL_MEMBER_ROLE_NAME", "GreenrailExecution")
    org = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="ml-team", Email="ml@example.com")["CreateAccountStatus"]["AccountId"]
    yield {"member": member, "hub": securityhub}


def hub_of(account: str) -> Any:
    """Security Hub as seen from ``account`` (moto keeps one per account)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/GreenrailExecution", RoleSessionName="test-reader")["Credentials"]
    return boto3.client("securityhub", region_name=REGION, aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def for_account(account: str, **overrides: Any) -> dict[str, Any]:
    return event(account=account, resource=f"arn:aws:sagemaker:{REGION}:{account}:training-job/big-run", **overrides)


def test_decision_for_an_unknown_account_is_dropped_and_counted(
    organization: dict[str, Any], handler: Any, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stranger = "999999999999"  # a well-formed account that is not in the Organization

    result = handler(for_account(stranger), LambdaContext())

    assert result == {"status": "imported", "imported": 0, "malformed": 0, "forged": 1}
    assert findings(hub_of(stranger)) == [] and findings(organization["hub"]) == []
    assert metrics_of(capsys.readouterr().out)["ForgedDecision"] in ([1.0], 1.0)
    [dropped] = [r for r in caplog.records if "does not act in" in r.getMessage()]
    assert (vars(dropped)["account"], vars(dropped)["policy"]) == (stranger, "training")  # to investigate


def test_decision_for_an_active_member_account_is_imported_there(organization: dict[str, Any], handler: Any) -> None:
    member = organization["member"]

    result = handler(for_account(member), LambdaContext())

    assert result == {"status": "imported", "imported": 1, "malformed": 0, "forged": 0}
    [finding] = findings(hub_of(member))
    assert finding["AwsAccountId"] == member
    assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{member}:product/{member}/default"


def test_decision_for_the_central_account_is_imported(organization: dict[str, Any], handler: Any) -> None:
    result = handler([for_account(ACCOUNT), for_account("000000000000", event_id="evt-2")], LambdaContext())

    assert result == {"status": "imported", "imported": 1, "malformed": 0, "forged": 1}
    [finding] = findings(organization["hub"])
    assert finding["AwsAccountId"] == ACCOUNT


def test_without_an_organization_only_the_central_account_is_accepted(
    securityhub: Any, handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "210987654321"

    result = handler([for_account(ACCOUNT), for_account(other, event_id="evt-2")], LambdaContext())

    assert result == {"status": "imported", "imported": 1, "malformed": 0, "forged": 1}
    assert findings(hub_of(other)) == []
    assert metrics_of(capsys.readouterr().out)["ForgedDecision"] in ([1.0], 1.0)


def refuse_list_accounts(code: str, status: int) -> None:
    from botocore.exceptions import ClientError

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "no"},
                           "ResponseMetadata": {"HTTPStatusCode": status}}, "ListAccounts")

    aws.client("organizations").meta.events.register("before-call.organizations.ListAccounts", refuse)


def test_when_the_organization_cannot_be_listed_only_the_central_account_is_accepted(
    organization: dict[str, Any], handler: Any, caplog: pytest.LogCaptureFixture
) -> None:
    member = organization["member"]
    refuse_list_accounts("AccessDeniedException", 400)  # not the management or a delegated administrator

    result = handler([for_account(ACCOUNT), for_account(member, event_id="evt-2")], LambdaContext())

    assert result == {"status": "imported", "imported": 1, "malformed": 0, "forged": 1}
    assert findings(hub_of(member)) == []
    assert "cannot list the Organization's accounts" in caplog.text


def test_a_transient_organizations_error_is_retried_not_dropped(organization: dict[str, Any], handler: Any) -> None:
    from botocore.exceptions import ClientError

    refuse_list_accounts("TooManyRequestsException", 400)
    with pytest.raises(ClientError):  # Lambda retries the invocation: imports are idempotent
        handler(for_account(organization["member"]), LambdaContext())


def test_the_organization_accounts_are_listed_once_per_few_minutes(
    organization: dict[str, Any], handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greenrail import audit

    assert handler(for_account(organization["member"]), LambdaContext())["imported"] == 1
    org = boto3.client("organizations", region_name=REGION)
    newcomer = org.create_account(AccountName="new", Email="new@example.com")["CreateAccountStatus"]["AccountId"]

    assert handler(for_account(newcomer), LambdaContext())["forged"] == 1  # the cached list
    monkeypatch.setattr(audit, "ACCOUNTS_CACHE_SECONDS", 0)  # the cache has expired
    assert handler(for_account(newcomer), LambdaContext())["imported"] == 1
    [finding] = findings(hub_of(newcomer))
    assert finding["AwsAccountId"] == newcomer
