"""Output people can read: ``greenrail scan``'s table fits the terminal, has headers, money in dollars
and cents with units, recurring savings apart from one-off avoided costs, carbon records with their
kWh and kgCO2e; progress on stderr only on a terminal; the demo says each policy's mode and why, and
why an exempt job has no carbon record. Fake decisions, no emulator."""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from greenrail.decision import Decision, Mode
from greenrail_cli import main as cli
from greenrail_cli.commands.scan import render_table
from tests.unit.test_report import decision, sample

LONG_KEY = "arn:aws:s3:::acme-ml-datasets/imagenet/train/2026/11/very/deep/prefix/shard-000123-of-004096.tar"
LONG_REASON = ("object not read for 412 days in STANDARD; Intelligent-Tiering moves it to Archive Instant Access "
               "after 90 days without access, which saves most of its storage cost at the same latency")


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def decisions() -> list[Decision]:
    tiny = decision(resource=LONG_KEY, reason=LONG_REASON, mode=Mode.DRY_RUN, usd=3.809e-05, kg=1.2e-06)
    estimate = decision(policy="carbon", action="estimate-carbon", mode=Mode.DRY_RUN,
                        resource="arn:aws:sagemaker:us-east-1:111122223333:training-job/next",
                        figures={"upper_bound": {"kwh": 120.0, "kgco2e": 45.5}, "estimated": True})
    return [*sample(), tiny, estimate]


def reason_column(lines: list[str]) -> str:
    """The REASON cells' text, wherever the table put them (beside the row, or under it)."""
    if "REASON" in lines[0]:
        column = lines[0].index("REASON")
        return " ".join(line[column:].strip() for line in lines[1:])
    label = "  REASON  "
    under = [line[len(label):] for line in lines
             if line.startswith(label) or (line.startswith(" " * len(label)) and line.strip())]
    return " ".join(part.strip() for part in under)


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_the_table_fits_the_terminal_with_headers(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    from greenrail_cli.output import terminal_width

    monkeypatch.setattr(shutil, "get_terminal_size", lambda *_: os.terminal_size((columns, 40)))
    monkeypatch.setattr(sys, "stdout", Terminal())
    width = terminal_width()
    assert width == columns
    for where in (False, True):
        lines = render_table(decisions(), 20, where=where, width=width).splitlines()[:-1]  # the totals: prose
        assert all(len(line) <= columns for line in lines), "\n".join(lines)
        header = [name for name in lines[0].split() if name not in ("ACCOUNT", "REGION", "RESOURCE", "REASON")]
        assert header == ["POLICY", "ACTION", "OUTCOME", "SAVINGS", "CARBON"]
        labels = {line.split()[0] for line in lines if line.split()}  # beside the row (the header), or under it
        wanted = {"RESOURCE", "REASON", "ACCOUNT", "REGION"} if where else {"RESOURCE", "REASON"}
        assert wanted <= labels | set(lines[0].split())
        resource = next(line for line in lines if "4096.tar" in line)  # the key's end is kept
        assert "…" in resource and LONG_KEY not in resource
        assert " ".join(LONG_REASON.split()) in " ".join(reason_column(lines).split())  # wrapped, not cut
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a pipe or a file: whole lines
    assert terminal_width() is None
    assert LONG_KEY in render_table(decisions(), 20, width=terminal_width())


def test_money_in_dollars_and_cents_with_units_recurring_apart_from_one_off() -> None:
    text = render_table(decisions(), 20, width=None)
    assert "e-0" not in text and "e-1" not in text
    assert "$0.00003809/month" in text and "0.0000012 kgCO2e/month" in text  # a sub-cent value, plain
    assert "$10.00/month" in next(line for line in text.splitlines() if "s3:::b/a" in line)
    stop = next(line for line in text.splitlines() if "training-job/big" in line and "stop" in line)
    assert "$300.00 one-off" in stop and "20.00 kgCO2e one-off" in stop
    hold = next(line for line in text.splitlines() if "endpoint/e" in line)
    assert "$22.00 one-off" in hold
    totals = text.splitlines()[-1]
    # recurring: 10 + 10 + 4 + 4 + 1 + 0.00003809; one-off: 300 + 50 + 22
    assert "savings $29.00/month recurring, $372.00 one-off" in totals, totals
    assert "3.00 kgCO2e/month, 22.60 kgCO2e one-off" in totals
    assert "20 resource(s) evaluated" in totals and "need action" in totals


def test_money_formats() -> None:
    from greenrail_cli.output import amount, significant, usd

    assert usd(3.809e-05) == "$0.00003809"
    assert usd(1234.5) == "$1,234.50" and usd(0) == "$0.00" and usd(0.01) == "$0.01" and usd(-2) == "-$2.00"
    assert usd(1e-15) == "$0.00"
    assert amount(1.2e-06) == "0.0000012" and amount(20.6) == "20.60"
    assert significant(3.809e-05) == "0.00003809" and significant(123456.7) == "123,457"


def test_carbon_records_show_their_kwh_and_kgco2e() -> None:
    text = render_table(decisions(), 20)
    big = next(line for line in text.splitlines() if "publish-carbon-record" in line and "job/big" in line)
    assert "40.00 kWh, 12.50 kgCO2e" in big
    small = next(line for line in text.splitlines() if "publish-carbon-record" in line and "job/small" in line)
    assert "1.00 kWh, 0.25 kgCO2e (estimated)" in small
    estimate = next(line for line in text.splitlines() if "estimate-carbon" in line)
    assert "up to 120.00 kWh, 45.50 kgCO2e" in estimate
    assert "carbon records: 2 job(s), 41.00 kWh, 12.75 kgCO2e emitted" in text.splitlines()[-1]


def _fake_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each policy's scan answers at once with one decision (no AWS)."""
    from greenrail.flows import scan

    def scan_each(names: Any, document: Any, mode: Any) -> Iterator[Any]:
        for name in names:
            yield scan.PolicyScan(name, [decision(policy=name, mode=mode, resource=f"arn:aws:s3:::b/{name}")])

    monkeypatch.setattr(scan, "scan_each", scan_each)


@pytest.mark.parametrize("command", [["scan", "--policies", "storage,training", "--format", "json"],
                                     ["report", "--policies", "storage,training"]])
def test_progress_only_on_a_terminal_and_never_on_stdout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    from greenrail_cli import output

    _fake_scans(monkeypatch)
    if command[0] == "report":
        command = [*command, "--out", str(tmp_path / "report.html")]
    prefix = f"greenrail {command[0]}: scanning"
    assert cli.main(command) == 0  # stderr is not a terminal: nothing at all
    captured = capsys.readouterr()
    assert captured.err == "" and prefix not in captured.out

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(command) == 0  # a terminal, but the scan took less than a second: nothing
    assert terminal.getvalue() == ""

    monkeypatch.setattr(output, "PROGRESS_DELAY", 0.0)  # a scan that takes longer
    assert cli.main(command) == 0
    shown = terminal.getvalue()
    where = " in us-east-1" if command[0] == "scan" else ""
    assert f"\r\x1b[K{prefix} storage{where} (0/2 done)" in shown
    assert f"\r\x1b[K{prefix} training{where} (1/2 done)" in shown
    assert shown.endswith("\r\x1b[K")  # cleared: what the command prints afterwards stays alone
    out = capsys.readouterr().out
    assert "scanning" not in out and "\r" not in out


def test_demo_says_each_policys_mode_and_why() -> None:
    from greenrail.registry import names
    from greenrail_cli.demo import money_totals, policy_modes, render

    ran = sample()
    report = {"log": [], "decisions": [d.model_dump(mode="json") for d in ran], "actions": [], "state": {},
              "notifications": [], "slack": [], "findings": [], "dead_letters": [],
              "totals": {"decisions": len(ran), "actions_applied": 0, "notifications": 0, "slack_messages": 0,
                         "findings": 0, **money_totals(ran)}}
    lines = render(report).splitlines()
    start = lines.index("Policies (the mode each ran in, and why)")
    assert start < lines.index("What happened")
    assert "  storage: enforce (the demo's policy document sets it)" in lines[start:]
    assert "  training: enforce (the demo's policy document sets it)" in lines[start:]
    assert {line.split(":")[0].strip() for line in lines[start + 1:start + 1 + len(names())]} == set(names())
    carbon = next(line for line in lines if line.strip().startswith("carbon ") and "kWh" in line)
    assert carbon.strip() == "carbon 40.00 kWh, 12.50 kgCO2e"  # the record's energy and emissions, not savings
    modes = {name: (mode, why) for name, mode, why in policy_modes("version: 1\nstorage: {mode: enforce}\n"
                                                                   "training: {check_interval_minutes: 15}\n")}
    assert modes["storage"] == ("enforce", "the demo's policy document sets it")
    assert modes["training"][1] == "the policy's default: the demo's policy document does not set training.mode"
    assert modes["carbon"][1].startswith("the policy's default: the demo's policy document has no carbon section")


def test_demo_says_why_an_exempt_job_has_no_carbon_record() -> None:
    from greenrail.policies import carbon, training
    from greenrail_cli.demo import exemptions

    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/notebook-debug-exempt"
    tags = {"team": "research", "greenrail:exempt": "true"}
    job = training.TrainingJobSnapshot(name="notebook-debug-exempt", arn=arn, status="InProgress",
                                       instance_type="ml.g4dn.xlarge", tags=tags, account="123456789012",
                                       region="us-east-1")
    watched = training.decide(job, [], training.TrainingPolicy(), datetime.now(UTC), None)
    recorded = carbon.record_training_job({"TrainingJobName": "notebook-debug-exempt", "TrainingJobArn": arn,
                                           "TrainingJobStatus": "Completed"}, tags, carbon.Utilization(),
                                          carbon.CarbonPolicy(mode=Mode.ENFORCE), account="123456789012",
                                          region="us-east-1")
    assert recorded is not None
    other = decision(policy="carbon", action="publish-carbon-record", resource=arn.replace("notebook-debug-exempt", "x"),
                     figures={"kwh": 1.0, "kgco2e": 0.5})
    lines = exemptions([watched, recorded, other])
    assert lines[0] == ("  training job notebook-debug-exempt: tagged greenrail:exempt=true, so exempt from every "
                        "policy that looked at it (training, carbon): not stopped, no carbon record")
    assert lines[1].strip() == f"training: {watched.reason}" and lines[2].strip() == f"carbon: {recorded.reason}"
    assert len(lines) == 3  # the recorded job is not exempt


def test_demo_says_why_its_exempt_job_has_no_carbon_record_from_its_state() -> None:
    """In the demo an exempt job gets no decision at all: its seeded tags meet the document's exemptions."""
    from greenrail_cli.demo import money_totals, render

    job = "arn:aws:sagemaker:us-east-1:123456789012:training-job/"
    ran = [decision(policy="training", action="stop", applied=True, resource=job + "llm-finetune-idle"),
           decision(policy="carbon", action="publish-carbon-record", applied=True, resource=job + "llm-finetune-idle",
                    figures={"kwh": 2.0, "kgco2e": 0.8}),
           decision(policy="carbon", action="publish-carbon-record", applied=True, resource=job + "churn-xgb-healthy",
                    figures={"kwh": 1.0, "kgco2e": 0.4})]
    state = {"training": {"jobs": {"llm-finetune-idle": "Stopped", "churn-xgb-healthy": "Completed",
                                   "notebook-debug-exempt": "Completed"}}}
    report = {"log": [], "decisions": [d.model_dump(mode="json") for d in ran], "actions": [], "state": state,
              "notifications": [], "slack": [], "findings": [], "dead_letters": [],
              "totals": {"decisions": len(ran), "actions_applied": 3, "notifications": 0, "slack_messages": 0,
                         "findings": 0, **money_totals(ran)}}
    lines = render(report).splitlines()
    start = lines.index("Exempt (why, and what they therefore lack)")
    assert lines[start + 1:start + 3] == [
        "  training job notebook-debug-exempt: tagged greenrail:exempt=true, so exempt from every policy that "
        "decides about training jobs (carbon, training): not stopped, no carbon record", ""]
