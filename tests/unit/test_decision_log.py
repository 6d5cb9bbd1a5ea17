"""The decision log, the dashboard and the CLI's notice, from template.yaml and the code.

The roles here run no Greenrail code (Firehose's and the decision-log rule's): test_permissions
cannot derive them from ``@calls``, so each is held to exactly what its service needs, on exactly
the log's bucket and stream. The dashboard charts only metrics the code emits, and every decision
metric the code emits is charted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import pytest
from moto import mock_aws

from greenrail.decision import Decision, Mode, Savings
from greenrail.observability import DECISION_METRICS, NAMESPACE
from greenrail_cli.emulator.deploy import load_template, sam_transform
from greenrail_cli.emulator.iam import statement_actions
from tests.conftest import ROOT


@lru_cache(maxsize=2)
def rendered(publishers: str = "") -> dict[str, Any]:
    raw = load_template(ROOT / "template.yaml")
    params = {name: str(spec.get("Default", "")) for name, spec in raw.get("Parameters", {}).items()}
    params["DecisionPublisherArns"] = publishers
    cfn, _ = sam_transform(raw, ROOT, params)
    resources: dict[str, Any] = cfn["Resources"]
    return resources


def statements(role: str) -> list[dict[str, Any]]:
    [policy] = rendered()[role]["Properties"]["Policies"]
    found: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return found


def test_firehose_role_writes_exactly_the_log_bucket_and_its_error_log() -> None:
    role = rendered()["DecisionLogDeliveryRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}
    by_resource = {json.dumps(s["Resource"], sort_keys=True): set(s["Action"]) for s in statements("DecisionLogDeliveryRole")}
    assert by_resource == {
        json.dumps({"Fn::GetAtt": ["DecisionLogBucket", "Arn"]}):
            {"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"},
        json.dumps({"Fn::Sub": "${DecisionLogBucket.Arn}/*"}): {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"},
        json.dumps({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                               "${DecisionLogDeliveryLogGroup}:log-stream:${DecisionLogDeliveryLogStream}"}):
            {"logs:PutLogEvents"},
    }


def test_the_rule_puts_decisions_on_exactly_the_log_stream() -> None:
    [statement] = statements("DecisionLogRuleRole")
    assert set(statement["Action"]) == {"firehose:PutRecord", "firehose:PutRecordBatch"}
    assert statement["Resource"] == {"Fn::GetAtt": ["DecisionLogStream", "Arn"]}
    assert statement_actions({"Statement": statements("DecisionLogRuleRole")}, lambda _: True) == set(statement["Action"])
    rule = rendered()["DecisionLogRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "DecisionBus"}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["DecisionLogStream", "Arn"]} and target["InputPath"] == "$.detail"
    assert target["RoleArn"] == {"Fn::GetAtt": ["DecisionLogRuleRole", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}


def test_log_bucket_is_private_encrypted_tls_only_and_expires_with_the_retention_parameter() -> None:
    bucket = rendered()["DecisionLogBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    expiring = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiring == [{"Id": "ExpireDecisions", "Status": "Enabled",
                         "ExpirationInDays": {"Ref": "DecisionLogRetentionDays"}}]
    [statement] = rendered()["DecisionLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"]) == ("Deny", "*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_firehose_partitions_like_the_glue_table_and_the_report_reader() -> None:
    destination = rendered()["DecisionLogStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert destination["CompressionFormat"] == "GZIP" and destination["DynamicPartitioningConfiguration"]["Enabled"]
    assert destination["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/")
    prefix_keys = re.findall(r"(\w+)=!\{partitionKeyFromQuery:(\w+)\}", destination["Prefix"])
    assert prefix_keys == [("policy", "policy"), ("year", "year"), ("month", "month"), ("day", "day")]
    table = rendered()["DecisionLogTable"]["Properties"]["TableInput"]
    assert [k["Name"] for k in table["PartitionKeys"]] == [name for name, _ in prefix_keys]
    template = table["Parameters"]["storage.location.template"]["Fn::Sub"]
    assert template == "s3://${DecisionLogBucket}/decisions/policy=${!policy}/year=${!year}/month=${!month}/day=${!day}/"
    assert destination["Prefix"].startswith("decisions/")
    # every field of a Decision is a column (or the policy partition), nothing else
    columns = {c["Name"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns | {"policy"} == set(Decision.model_fields)


def dashboard_body() -> dict[str, Any]:
    text, variables = rendered()["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{[^}]+\}", "x", text)  # every substitution is inside a JSON string
    body: dict[str, Any] = json.loads(filled)
    return body


def test_dashboard_charts_what_the_code_emits() -> None:
    body = json.dumps(dashboard_body())
    charted = set(re.findall(r"\{Greenrail,policy\} MetricName=\\+\"(\w+)\\+\"", body))
    assert charted == set(DECISION_METRICS)
    for expected in ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Throttles", "Errors", "ExecutionsStarted",
                     "RUNNING_SUM"):
        assert expected in body


def decision(policy: str = "storage", **fields: Any) -> Decision:
    values: dict[str, Any] = {"policy": policy, "resource": "arn:aws:s3:::b/k", "account": "123456789012",
                              "region": "us-east-1", "action": "tag", "mode": Mode.ENFORCE, "reason": "r"}
    return Decision(**{**values, **fields})


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws():
        import boto3

        boto3.client("events").create_event_bus(Name="decisions")
        monkeypatch.setenv("GREENRAIL_BUS_NAME", "decisions")
        yield "decisions"


def emitted(text: str) -> dict[str, dict[str, Any]]:
    documents = [json.loads(line) for line in text.splitlines() if '"_aws"' in line]
    return {d["policy"]: d for d in documents if d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["policy"]]}


def test_publishing_emits_decisions_actions_and_applied_savings_per_policy(
        bus: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from greenrail import bus as decision_bus

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "greenrail-StorageObjectFunction")
    decision_bus.publish([
        decision(applied=True, savings=Savings(usd_per_month=2.5, kgco2e_per_month=0.25)),
        decision(applied=True, savings=Savings(usd_per_month=1.25, kgco2e_per_month=0.5)),
        decision(held_back=True, savings=Savings(usd_per_month=100.0)),  # not applied: no savings
        decision(error="AccessDenied", savings=Savings(usd_per_month=100.0)),
        decision("training", action="stop", applied=True, savings=Savings(usd_per_month=40.0, kgco2e_per_month=3.0)),
    ])

    documents = emitted(capsys.readouterr().out)
    assert set(documents) == {"storage", "training"}
    storage = documents["storage"]
    assert storage["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE
    assert {name: storage[name] for name in DECISION_METRICS} == {
        "DecisionsPublished": 4, "ActionsApplied": 2, "ActionsHeldBack": 1, "ActionErrors": 1,
        "SavingsUsdPerMonth": 3.75, "SavingsKgCO2ePerMonth": 0.75}
    assert (documents["training"]["SavingsUsdPerMonth"], documents["training"]["ActionsApplied"]) == (40.0, 1)


def test_outside_lambda_or_with_metrics_off_publishing_prints_no_metrics(bus: str, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from greenrail import bus as decision_bus

    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    decision_bus.publish([decision(applied=True)])
    assert capsys.readouterr().out == ""  # the CLI's stdout is the user's
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "greenrail-StorageObjectFunction")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # as the demo runs its functions
    decision_bus.publish([decision(applied=True)])
    assert capsys.readouterr().out == ""


def test_only_named_operators_join_the_publishers_of_the_decision_bus() -> None:
    from greenrail_cli.emulator.deploy import _NO_VALUE, Resolver, Stack

    raw = load_template(ROOT / "template.yaml")
    exemption = raw["Resources"]["DecisionBusPolicy"]["Properties"]["Statement"]["Condition"]["ArnNotLike"]

    def resolved(publishers: list[str]) -> Any:
        params: dict[str, Any] = {name: str(spec.get("Default", "")) for name, spec in raw["Parameters"].items()}
        params["DecisionPublisherArns"] = publishers  # a CommaDelimitedList parameter
        resolver = Resolver(Stack("greenrail", "123456789012", "us-east-1", raw, params))
        resolver.evaluate_conditions()
        return resolver.resolve(exemption)

    assert resolved([""]) is _NO_VALUE  # by default only the functions publish
    operators = ["arn:aws:iam::123456789012:role/platform-operators"]
    assert resolved(operators) == {"aws:PrincipalArn": operators}


def test_enforce_without_a_deployment_says_once_that_its_decisions_are_local_only(
        capsys: pytest.CaptureFixture[str]) -> None:
    from greenrail_cli.main import main

    with mock_aws():
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="local-datasets")
        s3.put_bucket_tagging(Bucket="local-datasets",
                              Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        for key in ("train/a.bin", "train/b.bin"):
            s3.put_object(Bucket="local-datasets", Key=key, Body=b"\0" * 200_000)

        code = main(["scan", "--mode", "enforce", "--policies", "storage", "--format", "json"])

        out, err = capsys.readouterr()
        assert code == 0, err
        assert [line for line in err.splitlines() if "local only" in line] == [
            "greenrail scan: no Greenrail deployment (stack greenrail in us-east-1; name its bus with --bus): these "
            "decisions are local only, not notified, audited or logged, and the blast radius counts this run only"]
        assert [json.loads(line)["applied"] for line in out.splitlines()] == [True, True]  # still acted, locally
        assert main(["scan", "--policies", "storage"]) == 0
        assert "local only" not in capsys.readouterr().err  # dry-run publishes nothing: nothing to say


def scan_args(*argv: str) -> Any:
    from greenrail_cli.main import build_parser

    return build_parser().parse_args(["scan", *argv])


def test_org_scans_every_active_account_in_every_region() -> None:
    from greenrail_cli.commands.scan import plan_targets
    from greenrail_cli.fleet import Target

    with mock_aws():
        import boto3

        organizations = boto3.client("organizations")
        organizations.create_organization(FeatureSet="ALL")
        created = organizations.create_account(AccountName="ml", Email="ml@example.com")["CreateAccountStatus"]
        member = organizations.describe_create_account_status(
            CreateAccountRequestId=created["Id"])["CreateAccountStatus"]["AccountId"]
        own = boto3.client("sts").get_caller_identity()["Account"]

        planned = plan_targets(scan_args("--org", "--regions", "us-east-1,eu-west-1,us-east-1"))

    assert set(planned) == {Target(a, r) for a in (own, member) for r in ("us-east-1", "eu-west-1")}
    assert len(planned) == 4  # a region named twice is scanned once


@pytest.mark.parametrize(("argv", "message"), [
    (("--accounts", "1234,123456789012"), "greenrail scan: --accounts: not twelve-digit account ids: 1234"),
    (("--regions", "us-east-1,mars-north-1"), "greenrail scan: --regions: "),
    (("--concurrency", "0"), "greenrail scan: --concurrency must be at least 1"),
])
def test_bad_targets_are_usage_errors(argv: tuple[str, ...], message: str) -> None:
    from greenrail_cli.commands.scan import plan_targets

    code, text = plan_targets(scan_args(*argv))
    assert code == 2 and text.startswith(message)
