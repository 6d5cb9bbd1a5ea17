"""The decision log and the CLI acting like the deployed system, in one emulated deployment.

Decisions on Greenrail's bus reach the log bucket through the template's rule and Firehose stream
(partitioned by policy and date, gzip JSON lines); a bucket that refuses writes loses nothing
(tests/unit/test_moto_ext_firehose.py: the error prefix, the 24 hours). ``greenrail scan --mode enforce``
publishes on the deployed bus and counts its actions in the deployed blast radius; ``--accounts``
with ``--regions`` scans member accounts through their role, one line per decision with its
account and region, and an account whose role cannot be assumed is reported while the others go on.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from greenrail.aws import client
from greenrail.decision import Decision
from greenrail_cli.emulator import ACCOUNT, REGION, Emulator
from greenrail_cli.emulator.moto_ext import firehose, sts
from greenrail_cli.main import main
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
MANAGED = {"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator("storage:\n  mode: dry-run\n") as running:
        running.register_stack()  # DescribeStacks answers with its outputs, as AWS does once deployed
        yield running


def log_objects(emulator: Emulator, prefix: str = "") -> dict[str, list[dict[str, Any]]]:
    """Every object of the log bucket under ``prefix``: its key and its JSON lines (gunzipped)."""
    s3, bucket = client("s3"), emulator.physical("DecisionLogBucket")
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        assert item["Key"].endswith(".gz")
        found[item["Key"]] = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    return found


def governed_object(bucket: str, key: str, s3: Any = None, size: int = 200_000) -> None:
    s3 = s3 or client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging=MANAGED)
    s3.put_object(Bucket=bucket, Key=key, Body=b"\0" * size)


def object_created(bucket: str, key: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "s3-object-created.json").read_text())
    event["detail"]["bucket"]["name"], event["detail"]["object"]["key"] = bucket, key
    return event


def partition(decision: Decision) -> str:
    day = decision.decided_at.astimezone(UTC)
    return f"decisions/policy={decision.policy}/year={day:%Y}/month={day:%m}/day={day:%d}/"


# ---------------------------------------------------------------- the log
def test_each_decision_reaches_the_log_partitioned_by_policy_and_day(emulator: Emulator) -> None:
    governed_object("log-datasets", "sets/train/a.bin")
    before = len(emulator.decisions)

    emulator.deliver(object_created("log-datasets", "sets/train/a.bin"))

    [decision] = emulator.decisions[before:]
    [(key, lines)] = [(k, v) for k, v in log_objects(emulator, partition(decision)).items()
                      if any(line["resource"].endswith("log-datasets/sets/train/a.bin") for line in v)]
    assert [Decision.model_validate(line) for line in lines] == [decision]  # the decision itself, one per line
    assert key.startswith(f"decisions/policy=storage/year={datetime.now(UTC):%Y}/")
    # the layout `greenrail report --from s3://<bucket>/decisions/` reads
    from greenrail_cli.report.aggregate import parse_line
    from greenrail_cli.report.sources import lines as log_lines

    read = [d for _, _, raw in log_lines(f"s3://{emulator.physical('DecisionLogBucket')}/decisions/")
            for d in parse_line(raw)]
    assert (decision.resource, decision.decided_at, decision.applied) in {(d.resource, d.decided_at, d.applied)
                                                                          for d in read}


def test_a_bucket_that_refuses_writes_loses_nothing(emulator: Emulator) -> None:
    bucket = emulator.physical("DecisionLogBucket")
    governed_object("refused-datasets", "sets/test/b.bin")
    firehose.refuse_writes(bucket)
    try:
        emulator.deliver(object_created("refused-datasets", "sets/test/b.bin"))
        logged = [line for lines in log_objects(emulator).values() for line in lines]
        assert not any("refused-datasets" in line["resource"] for line in logged)
        assert firehose.pending(emulator.physical("DecisionLogStream")) == 1  # kept, retried
    finally:
        firehose.refuse_writes(bucket, refuse=False)

    firehose.retry_pending()

    logged = [line for lines in log_objects(emulator).values() for line in lines]
    assert [line["resource"] for line in logged if "refused-datasets" in line["resource"]] == [
        "arn:aws:s3:::refused-datasets/sets/test/b.bin"]
    assert firehose.pending(emulator.physical("DecisionLogStream")) == 0


# ---------------------------------------------------------------- the CLI like the deployed system
def test_scan_enforce_publishes_on_the_deployed_bus_and_counts_in_its_blast_radius(
        emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    governed_object("cli-datasets", "sets/train/c.bin")
    before = len(emulator.decisions)

    code = main(["scan", "--mode", "enforce", "--policies", "storage", "--format", "json"])
    out, err = capsys.readouterr()
    emulator.drain()  # the notifier and the auditor run on the published decisions

    assert code == 0, err
    assert "local only" not in err
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    mine = [p for p in printed if p["resource"] == "arn:aws:s3:::cli-datasets/sets/train/c.bin"]
    assert mine and mine[0]["applied"] is True
    published = [d for d in emulator.decisions[before:] if d.resource == mine[0]["resource"]]
    assert [(d.mode.value, d.applied) for d in published] == [("enforce", True)]  # notified, audited, logged
    logged = [line for lines in log_objects(emulator, partition(published[0])).values() for line in lines]
    assert mine[0]["resource"] in {line["resource"] for line in logged}
    hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
    item = client("dynamodb").get_item(TableName=emulator.physical("StateTable"),
                                       Key={"id": {"S": f"blast-radius#storage#{hour}"}})["Item"]
    assert int(item["count"]["N"]) >= 1  # the deployed blast radius counted the CLI's action


def test_scan_enforce_with_a_bus_that_does_not_exist_is_one_clear_error(
        emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    governed_object("nobus-datasets", "sets/train/d.bin")

    code = main(["scan", "--mode", "enforce", "--policies", "storage", "--bus", "no-such-bus"])

    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.splitlines() == [f"greenrail scan: event bus 'no-such-bus' (--bus) does not exist in {REGION}: "
                                "nothing was scanned or changed"]
    assert client("s3").get_object_tagging(Bucket="nobus-datasets", Key="sets/train/d.bin")["TagSet"] == []


def member_account(name: str) -> str:
    organizations = client("organizations")
    try:
        organizations.create_organization(FeatureSet="ALL")
    except organizations.exceptions.AlreadyInOrganizationException:
        pass
    status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
    return str(organizations.describe_create_account_status(
        CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"])


def session(account: str, region: str) -> boto3.session.Session:
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/GreenrailExecution", RoleSessionName="seed")["Credentials"]
    return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                 aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"], region_name=region)


def test_scan_of_accounts_and_regions_one_line_per_decision_with_its_account_and_region(
        emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    team, locked = member_account("ml-team"), member_account("locked")
    governed_object("team-datasets", "sets/train/e.bin", session(team, REGION).client("s3"))
    sample = json.loads((ROOT / "events" / "sagemaker-training-job-inprogress.json").read_text())["detail"]
    session(team, "eu-west-1").client("sagemaker").create_training_job(
        TrainingJobName="team-job", AlgorithmSpecification=sample["AlgorithmSpecification"],
        RoleArn=sample["RoleArn"], OutputDataConfig=sample["OutputDataConfig"],
        ResourceConfig=sample["ResourceConfig"], StoppingCondition=sample["StoppingCondition"])
    sts.refuse_assume_role(f"arn:aws:iam::{locked}:role/GreenrailExecution")

    code = main(["scan", "--accounts", f"{team},{locked}", "--regions", f"{REGION},eu-west-1",
                 "--policies", "storage,training", "--all", "--format", "json", "--concurrency", "3"])

    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {(line["policy"], line["account"], line["region"], line["resource"].rsplit(":", 1)[-1]) for line in lines} == {
        ("storage", team, REGION, "team-datasets/sets/train/e.bin"),
        ("training", team, "eu-west-1", "training-job/team-job"),
    }
    assert code == 1  # one account could not be scanned
    refused = [line for line in err.splitlines() if locked in line]
    assert len(refused) == 2 and all("cannot assume" in line and "AccessDenied" in line for line in refused)
    assert {line.split(": ")[1] for line in refused} == {f"account {locked}, {REGION}",
                                                          f"account {locked}, eu-west-1"}
    assert ACCOUNT not in out  # the caller's own account was not among the targets
