"""``greenrail report``: the figures it computes, the lines it refuses, its sources (file, gzip, S3)
and ``greenrail scan --output-dir``."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greenrail.decision import Decision, Mode, Savings
from greenrail_cli import main as cli
from greenrail_cli.report import from_decisions, from_lines, render_html
from greenrail_cli.report.sources import lines

ACCOUNT, OTHER = "111122223333", "444455556666"


def decision(**fields: Any) -> Decision:
    base: dict[str, Any] = {"policy": "storage", "resource": "arn:aws:s3:::b/k", "account": ACCOUNT,
                            "region": "us-east-1", "action": "tag", "mode": Mode.ENFORCE, "reason": "r",
                            "decided_at": datetime(2026, 10, 5, 12, tzinfo=UTC)}
    usd, kg = fields.pop("usd", 0.0), fields.pop("kg", 0.0)
    return Decision(**base | fields, savings=Savings(usd_per_month=usd, kgco2e_per_month=kg))


def sample() -> list[Decision]:
    """A small log whose figures are worked out by hand in the tests below."""
    nov = datetime(2026, 11, 2, 8, tzinfo=UTC)
    one_off = {"savings_basis": "one-off: the remaining projected runtime"}
    job = "arn:aws:sagemaker:eu-west-1:444455556666:training-job/"
    return [
        decision(resource="arn:aws:s3:::b/a", applied=True, usd=10.0, kg=1.0),  # saved
        decision(resource="arn:aws:s3:::b/a", applied=True, already_applied=True, usd=10.0, kg=1.0),  # not again
        decision(resource="arn:aws:s3:::b/c", mode=Mode.DRY_RUN, usd=4.0, kg=0.5),  # not applied
        decision(resource="arn:aws:s3:::b/c", mode=Mode.DRY_RUN, usd=4.0, kg=0.5, decided_at=nov),  # same: once
        decision(policy="training", resource=job + "big", action="stop", applied=True, usd=300.0, kg=20.0,
                 figures=one_off, account=OTHER, region="eu-west-1", decided_at=nov),  # avoided
        decision(policy="training", resource=job + "held", action="stop", held_back=True, usd=50.0, kg=2.0,
                 figures=one_off, account=OTHER, region="eu-west-1", decided_at=nov),  # held back: not applied
        decision(policy="retraining", resource="arn:aws:sagemaker:us-east-1:111122223333:endpoint/e",
                 action="hold", usd=22.0, kg=0.6, figures={"savings_basis": "one-off, estimated"}),  # avoided
        decision(policy="storage", resource="arn:aws:s3:::b/x", action="none", compliant=True),
        decision(policy="storage", resource="arn:aws:s3:::b/y", error="AccessDenied", usd=1.0),  # failed
        decision(policy="carbon", resource=job + "big", action="publish-carbon-record", applied=True,
                 account=OTHER, region="eu-west-1", decided_at=nov,
                 figures={"training_job": "big", "kwh": 40.0, "kgco2e": 12.5, "estimated": False}),
        decision(policy="carbon", resource=job + "small", action="publish-carbon-record", mode=Mode.DRY_RUN,
                 account=OTHER, region="eu-west-1", decided_at=nov,
                 figures={"training_job": "small", "kwh": 1.0, "kgco2e": 0.25, "estimated": True}),
    ]


def chart(data: dict[str, Any], chart_id: str) -> dict[str, Any]:
    found = {c["id"]: c for c in data["charts"]}
    return found[chart_id]


def series(data: dict[str, Any], chart_id: str) -> dict[str, dict[str, float]]:
    c = chart(data, chart_id)
    return {s["id"]: dict(zip(c["categories"], s["values"], strict=True)) for s in c["series"]}


def test_totals_split_saved_avoided_and_not_applied() -> None:
    data = from_decisions(sample(), "test")
    assert data["decisions"] == 11
    assert data["totals"] == {
        "saved_usd_per_month": 10.0, "avoided_usd": 322.0, "pending_usd": 55.0,  # 4 (once) + 50 + 1
        "saved_kgco2e_per_month": 1.0, "avoided_kgco2e": 20.6, "pending_kgco2e": 2.5,
        "emitted_kgco2e": 12.75, "emitted_kwh": 41.0, "training_jobs": 2,
    }
    assert data["outcomes"] == {"applied": 4, "hold": 1, "held back": 1, "error": 1, "dry-run": 3,
                                "recommended": 0, "none": 1}


def test_groups_by_policy_month_account_and_region() -> None:
    data = from_decisions(sample(), "test")
    by_policy = series(data, "policy-usd")
    assert by_policy["saved"] == {"training": 0.0, "retraining": 0.0, "storage": 10.0, "carbon": 0.0}
    assert by_policy["avoided"]["training"] == 300.0 and by_policy["avoided"]["retraining"] == 22.0
    assert by_policy["pending"] == {"training": 50.0, "retraining": 0.0, "storage": 5.0, "carbon": 0.0}
    assert list(by_policy["saved"]) == ["training", "retraining", "storage", "carbon"]  # biggest first
    by_month = series(data, "month-kg")
    assert list(by_month["saved"]) == ["2026-10", "2026-11"]  # in order
    assert by_month["emitted"] == {"2026-10": 0.0, "2026-11": 12.75}
    assert by_month["avoided"] == {"2026-10": 0.6, "2026-11": 20.0}
    assert by_month["pending"] == {"2026-10": 0.5, "2026-11": 2.0}  # the dry-run repeat in November: once
    by_account = series(data, "account-usd")
    assert by_account["avoided"] == {OTHER: 300.0, ACCOUNT: 22.0}
    assert series(data, "region-kg")["emitted"] == {"eu-west-1": 12.75, "us-east-1": 0.0}
    assert "emitted" not in series(data, "policy-kg")


def test_biggest_resources_and_training_jobs() -> None:
    data = from_decisions(sample(), "test")
    resources = chart(data, "resources")
    assert resources["categories"][:3] == [
        "arn:aws:sagemaker:eu-west-1:444455556666:training-job/big",
        "arn:aws:sagemaker:eu-west-1:444455556666:training-job/held",
        "arn:aws:sagemaker:us-east-1:111122223333:endpoint/e"]
    assert resources["series"][0]["values"][:3] == [300.0, 50.0, 22.0]
    assert resources["notes"][1] == "training stop, held back, one-off"
    jobs = chart(data, "jobs")
    assert jobs["categories"] == ["arn:aws:sagemaker:eu-west-1:444455556666:training-job/big",
                                  "arn:aws:sagemaker:eu-west-1:444455556666:training-job/small"]
    assert jobs["series"][0]["values"] == [12.5, 0.25]
    assert jobs["notes"] == ["40.000 kWh, eu-west-1", "1.000 kWh, estimated, eu-west-1"]


def test_a_resource_with_several_big_decisions_is_one_bar() -> None:
    endpoint = "arn:aws:sagemaker:us-east-1:111122223333:endpoint/e"
    data = from_decisions([decision(policy="endpoints", resource=endpoint, action="downsize", applied=True, usd=90.0),
                           decision(policy="endpoints", resource=endpoint, action="recommend-autoscaling", usd=30.0),
                           decision(resource="arn:aws:s3:::b/k", applied=True, usd=100.0)], "test")
    resources = chart(data, "resources")
    assert resources["categories"] == [endpoint, "arn:aws:s3:::b/k"]
    assert resources["series"][0]["values"] == [120.0, 100.0]
    assert resources["notes"][0] == ("endpoints downsize, applied, per month; "
                                     "endpoints recommend-autoscaling, recommended, per month")


def test_the_table_keeps_the_most_recent_rows_and_says_how_many() -> None:
    from greenrail_cli.report.aggregate import Aggregator

    aggregator = Aggregator(table_rows=3)
    for day in range(1, 11):
        aggregator.add(decision(resource=f"arn:aws:s3:::b/{day}", decided_at=datetime(2026, 11, day, tzinfo=UTC)))
    table = aggregator.result("test")["table"]
    assert [row["resource"] for row in table["rows"]] == ["arn:aws:s3:::b/10", "arn:aws:s3:::b/9", "arn:aws:s3:::b/8"]
    assert table["rows"][0]["t"] == "2026-11-10T00:00:00Z"
    assert (table["limit"], table["total"]) == (3, 10)


def test_a_carbon_record_counts_once_per_job_the_latest_wins() -> None:
    job = "arn:aws:sagemaker:us-east-1:111122223333:training-job/j"
    records = [decision(policy="carbon", resource=job, action="publish-carbon-record",
                        figures={"training_job": "j", "kwh": kwh, "kgco2e": kwh / 2}) for kwh in (2.0, 3.0)]
    totals = from_decisions(records, "test")["totals"]
    assert (totals["training_jobs"], totals["emitted_kwh"], totals["emitted_kgco2e"]) == (1, 3.0, 1.5)


def test_a_pre_flight_estimate_is_not_an_emission() -> None:
    job = "arn:aws:sagemaker:us-east-1:111122223333:training-job/j"
    estimate = decision(policy="carbon", resource=job, action="estimate-carbon",
                        figures={"training_job": "j", "kwh": 2.5, "kgco2e": 1.0})
    record = decision(policy="carbon", resource=job + "2", action="publish-carbon-record",
                      figures={"training_job": "j2", "kwh": 0.5, "kgco2e": 0.2})
    data = from_decisions([estimate, record], "test")
    assert (data["totals"]["training_jobs"], data["totals"]["emitted_kgco2e"]) == (1, 0.2)
    assert chart(data, "jobs")["categories"] == [job + "2"]


def write_log(path: Path, text: str, compress: bool = False) -> None:
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())


def test_malformed_lines_are_skipped_counted_and_named(tmp_path: Path) -> None:
    good = [d.model_dump_json() for d in sample()[:3]]
    event = json.dumps({"version": "0", "detail-type": "Greenrail Decision", "source": "greenrail",
                        "detail": json.loads(good[2])})
    nan = json.loads(good[0]) | {"savings": {"usd_per_month": float("nan"), "kgco2e_per_month": 0}}
    log = tmp_path / "decisions.jsonl"
    write_log(log, "\n".join([
        good[0],
        "not json at all",
        "",  # blank: not counted
        '{"policy": "storage", "resource": "x"}',  # a decision without its fields
        event,  # an EventBridge event carrying a decision
        good[1] + good[2],  # two written without a newline between them
        json.dumps(nan),
        '{"policy": "storage", "trunc',
        json.dumps({"detail-type": "Greenrail Decision", "detail": {"policy": "nope"}}),
    ]) + "\n")
    data = from_lines(lines(str(log)), str(log))
    assert data["decisions"] == 4
    assert data["malformed"]["count"] == 5
    named = data["malformed"]["named"]
    assert [entry.split(": ", 1)[0] for entry in named] == [f"{log}:{n}" for n in (2, 4, 7, 8, 9)]
    assert "not JSON" in named[0] and "account: Field required" in named[1]
    assert "not a finite number" in named[2] and "policy: Input should be" in named[4]


def test_a_log_from_a_newer_greenrail_is_still_read(tmp_path: Path) -> None:
    line = json.loads(sample()[0].model_dump_json()) | {"a_field_added_later": 1}
    log = tmp_path / "decisions.jsonl"
    write_log(log, json.dumps(line) + "\n")
    data = from_lines(lines(str(log)), "test")
    assert (data["decisions"], data["malformed"]["count"]) == (1, 0)


def test_an_empty_log_gives_a_report_that_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, out = tmp_path / "empty.jsonl", tmp_path / "report.html"
    log.write_bytes(b"")
    assert cli.main(["report", "--from", str(log), "--out", str(out)]) == 0
    assert f"{out}: 0 decision(s)" in capsys.readouterr().out
    data = embedded(out.read_text())
    assert data["decisions"] == 0 and data["totals"]["saved_usd_per_month"] == 0
    assert all(not s["values"] or not any(s["values"]) for c in data["charts"] for s in c["series"])
    # what the page says of it: tests/e2e/test_report_browser.py::test_an_empty_log_and_malformed_lines_are_said


def test_a_missing_file_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--from", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"greenrail report: cannot read {tmp_path / 'nope.jsonl'}: No such file or directory"]
    assert not (tmp_path / "r.html").exists()


def embedded(html: str) -> dict[str, Any]:
    raw = html.split('<script type="application/json" id="greenrail-data">', 1)[1].split("</script>", 1)[0]
    result: dict[str, Any] = json.loads(raw)
    return result


def test_the_data_cannot_end_its_script_element() -> None:
    hostile = decision(reason="</script><script>alert(1)</script><!--", resource="arn:aws:s3:::b/</script>")
    html = render_html(from_decisions([hostile], "</script>"))
    body = html.split('id="greenrail-data">', 1)[1]
    assert body.index("</script>") > body.index("\\u003c/script>")  # the first </script> is the element's own
    data = embedded(html)
    assert data["table"]["rows"][0]["reason"] == "</script><script>alert(1)</script><!--"
    assert data["source"] == "</script>"


def test_a_gzip_file_is_read_whatever_its_name(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"  # no .gz: told by its first bytes
    write_log(log, "\n".join(d.model_dump_json() for d in sample()) + "\n", compress=True)
    assert from_lines(lines(str(log)), "test")["totals"] == from_decisions(sample(), "test")["totals"]


def test_a_corrupt_gzip_object_is_named_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl.gz"
    whole = gzip.compress(("\n".join(d.model_dump_json() for d in sample()) + "\n").encode())
    log.write_bytes(whole[: len(whole) // 2])  # cut in the middle
    data = from_lines(lines(str(log)), "test")
    assert data["malformed"]["count"] >= 1
    assert "unreadable from here on" in data["malformed"]["named"][-1]


@pytest.fixture(scope="module")
def decision_log() -> Any:
    """A decision log as the Firehose stream writes it: gzip objects under policy=/year=/month=/day=."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="greenrail-log")
        by_policy: dict[str, list[Decision]] = {}
        for d in sample():
            by_policy.setdefault(d.policy, []).append(d)
        for number, (policy, decisions) in enumerate(sorted(by_policy.items())):
            key = f"decisions/policy={policy}/year=2026/month=11/day=02/greenrail-decisions-{number}.gz"
            text = "".join(json.dumps({"detail-type": "Greenrail Decision", "source": "greenrail",
                                       "detail": json.loads(d.model_dump_json())}) + "\n" for d in decisions)
            s3.put_object(Bucket="greenrail-log", Key=key, Body=gzip.compress(text.encode()))
        # a plain object, with one malformed line
        s3.put_object(Bucket="greenrail-log", Key="decisions/policy=storage/year=2026/month=11/day=03/plain",
                      Body=(sample()[0].model_dump_json() + "\n{oops\n").encode())
        s3.put_object(Bucket="greenrail-log", Key="elsewhere/x.gz", Body=b"not under the prefix")
        yield


def test_the_s3_decision_log_is_read_under_its_prefix(decision_log: Any, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert cli.main(["report", "--from", "s3://greenrail-log/decisions/", "--out", str(out)]) == 0
    data = embedded(out.read_text())
    assert data["decisions"] == len(sample()) + 1
    assert data["malformed"]["named"] == [
        "s3://greenrail-log/decisions/policy=storage/year=2026/month=11/day=03/plain:2: not JSON: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"]
    expected = from_decisions([*sample(), sample()[0]], "x")["totals"]
    assert data["totals"] == expected
    assert data["source"] == "s3://greenrail-log/decisions/"
    assert "12 decision(s), 1 malformed line(s) skipped" in capsys.readouterr().out


def test_a_missing_bucket_is_one_clear_error(decision_log: Any, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--from", "s3://no-such-log/x", "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("greenrail report: cannot list s3://no-such-log/x: NoSuchBucket")


def test_scan_output_dir_writes_the_decisions_and_their_report(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="vision-data")
        s3.put_bucket_tagging(Bucket="vision-data",
                              Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        s3.put_object(Bucket="vision-data", Key="imagenet/train/shard-000.tar", Body=b"\0" * 2 * 1024 * 1024)
        s3.put_object(Bucket="vision-data", Key="imagenet/train/index.json", Body=b"{}")  # too small: none
        out = tmp_path / "out"
        assert cli.main(["scan", "--policies", "storage", "--format", "json", "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    printed = [json.loads(line) for line in captured.out.splitlines()]
    logged = [Decision.model_validate_json(line) for line in (out / "decisions.jsonl").read_text().splitlines()]
    assert sorted(d.resource for d in logged) == ["arn:aws:s3:::vision-data/imagenet/train/index.json",
                                                  "arn:aws:s3:::vision-data/imagenet/train/shard-000.tar"]
    assert [p["resource"] for p in printed] == ["arn:aws:s3:::vision-data/imagenet/train/shard-000.tar"]
    data = embedded((out / "report.html").read_text())
    assert data["decisions"] == 2 and data["outcomes"]["dry-run"] == 1 and data["outcomes"]["none"] == 1
    assert data["totals"]["pending_usd"] == pytest.approx(printed[0]["savings"]["usd_per_month"], rel=1e-6)
    assert f"wrote {out / 'decisions.jsonl'} and {out / 'report.html'}" in captured.err
    # and the report reads the saved scan back to the same figures
    again = from_lines(lines(str(out / "decisions.jsonl")), "again")
    assert again["totals"] == data["totals"]


def test_scan_output_dir_that_cannot_be_written_is_an_error(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with mock_aws():
        code = cli.main(["scan", "--policies", "storage", "--output-dir", str(blocker / "sub")])
    assert code == 1
    assert f"greenrail scan: cannot write {blocker / 'sub'}" in capsys.readouterr().err


def test_without_a_source_the_report_is_a_dry_run_scan_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="vision-data")
        s3.put_bucket_tagging(Bucket="vision-data",
                              Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
        s3.put_object(Bucket="vision-data", Key="imagenet/train/shard-000.tar", Body=b"\0" * 2 * 1024 * 1024)
        assert cli.main(["report", "--policies", "nope", "--out", str(out)]) == 2
        assert cli.main(["report", "--policies", "storage", "--out", str(out)]) == 0
    data = embedded(out.read_text())
    assert data["source"] == "a dry-run scan of region us-east-1"
    assert data["outcomes"]["dry-run"] == 1 and data["outcomes"]["applied"] == 0
    assert data["table"]["rows"][0]["resource"] == "arn:aws:s3:::vision-data/imagenet/train/shard-000.tar"
    assert data["totals"]["pending_usd"] > 0 and data["totals"]["saved_usd_per_month"] == 0
