"""The demo's printout: money in dollars and cents with units (never ``3.8e-05``), recurring savings
apart from one-off avoided costs, as the report shows them (tests/unit/test_report.py's sample)."""

from __future__ import annotations

from greenrail_cli.demo import money_totals, render
from tests.unit.test_report import sample


def test_totals_split_recurring_one_off_and_not_applied_in_dollars_and_cents() -> None:
    decisions = sample()
    report = {"log": [], "decisions": [d.model_dump(mode="json") for d in decisions], "actions": [], "state": {},
              "notifications": [], "slack": [], "findings": [], "dead_letters": [],
              "totals": {"decisions": len(decisions), "actions_applied": sum(d.applied for d in decisions),
                         "notifications": 0, "slack_messages": 0, "findings": 0, **money_totals(decisions)}}
    text = render(report)
    [totals] = [line for line in text.splitlines() if line.startswith("Totals")]
    assert "$10.00/month saved (recurring, 1.00 kgCO2e/month)" in totals
    assert "$322.00 avoided (one-off, 20.60 kgCO2e)" in totals
    assert "$55.00 not applied (dry-run, recommended, held back)" in totals
    assert "12.75 kgCO2e emitted by training jobs" in totals
    assert "e-0" not in text and "saved or avoided" not in text
    one_off = [line for line in text.splitlines() if "savings $300.00 one-off" in line]
    assert one_off  # the stopped training job's avoided cost is not a monthly figure
