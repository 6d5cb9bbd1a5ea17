"""The HTML report in a real browser: Debian's headless Chromium, driven by Playwright (no browser
download: ``executable_path=/usr/bin/chromium``).

Checks that every chart drew its marks with the right numbers (each SVG mark carries its value,
and its height or width is read back against the chart's scale), that the totals and the table
show them, that nothing was fetched from the network, and that no script failed. The demo's
report is rendered too, from the decisions ``make demo`` wrote (kept in tests/e2e/data/; set
``GREENRAIL_REPORT_DEMO=1`` to run the demo afresh instead), and its screenshot saved: set
``GREENRAIL_REPORT_SCREENSHOT=docs/report.png`` to refresh the README's.

``make test`` and ``make e2e`` install Chromium when it is missing and set
``GREENRAIL_REQUIRE_CHROMIUM=1``, so there the test fails rather than skips without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from greenrail.decision import Decision
from greenrail_cli.report import from_decisions, write_html
from tests.unit.test_report import ACCOUNT, OTHER, sample

pytestmark = pytest.mark.e2e
DEMO_LOG = Path(__file__).parent / "data" / "demo-decisions.jsonl"
CHROMIUM = os.environ.get("GREENRAIL_CHROMIUM", "/usr/bin/chromium")
# As this machine's notes advise: no background networking (it would be refused, loudly), no GPU, a fresh profile.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found: apt-get install -y chromium (make test installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]'"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = _unavailable()
    if missing:
        if os.environ.get("GREENRAIL_REQUIRE_CHROMIUM"):
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        try:
            yield context
        finally:
            context.close()


class Rendered:
    """A report opened in the browser, with every request and every script error it caused."""

    def __init__(self, context: Any, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = context.new_page()
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(self.url, wait_until="load")
        self.page.wait_for_selector("body[data-rendered=true]", timeout=5000)

    def marks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.eval_on_selector_all("rect.mark", """marks => marks.map(m => {
            const svg = m.ownerSVGElement;
            return {chart: m.dataset.chart, series: m.dataset.series, category: m.dataset.category,
                    value: Number(m.dataset.value), height: Number(m.getAttribute("height")),
                    width: Number(m.getAttribute("width")), box: m.getBBox().height,
                    scale_max: Number(svg.dataset.scaleMax), plot_height: Number(svg.dataset.plotHeight || 0),
                    plot_width: Number(svg.dataset.plotWidth || 0)};
        })""")
        return result

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def close(self) -> None:
        self.page.close()


def open_report(browser: Any, data: dict[str, Any], path: Path) -> Rendered:
    write_html(data, path)
    return Rendered(browser, path)


def check_marks(rendered: Rendered, data: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    """Every value of every chart has its mark, drawn to its chart's scale; returns them all."""
    marks = rendered.marks()
    drawn = {(m["chart"], m["series"], m["category"]): m for m in marks}
    assert len(drawn) == len(marks)  # one mark per (chart, series, category)
    expected = {(c["id"], s["id"], category): value for c in data["charts"] for s in c["series"]
                for category, value in zip(c["categories"], s["values"], strict=True)}
    assert set(drawn) == set(expected)
    for key, value in expected.items():
        mark = drawn[key]
        assert mark["value"] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        if mark["plot_height"]:  # vertical bars: height = value / axis maximum x plot height
            assert mark["height"] == pytest.approx(value / mark["scale_max"] * mark["plot_height"], abs=0.01), key
            assert mark["box"] == pytest.approx(mark["height"], abs=0.01)  # the browser laid it out so
        else:  # horizontal bars: width = value / largest value x plot width
            assert mark["width"] == pytest.approx(value / mark["scale_max"] * mark["plot_width"], abs=0.01), key
    return {key: m["value"] for key, m in drawn.items()}


def check_offline(rendered: Rendered) -> None:
    assert rendered.requests == [rendered.url]  # the page itself, from disk, and nothing else
    assert rendered.errors == []


def test_the_report_draws_the_right_numbers_offline(browser: Any, tmp_path: Path) -> None:
    data = from_decisions(sample(), "a test log")
    rendered = open_report(browser, data, tmp_path / "report.html")
    try:
        drawn = check_marks(rendered, data)
        check_offline(rendered)
        # the numbers worked out by hand in tests/unit/test_report.py, as drawn
        assert drawn[("policy-usd", "avoided", "training")] == 300.0
        assert drawn[("policy-usd", "pending", "storage")] == 5.0
        assert drawn[("month-kg", "emitted", "2026-11")] == 12.75
        assert drawn[("account-usd", "avoided", OTHER)] == 300.0
        assert drawn[("account-usd", "saved", ACCOUNT)] == 10.0
        assert drawn[("region-kg", "emitted", "eu-west-1")] == 12.75
        assert drawn[("jobs", "kg", "arn:aws:sagemaker:eu-west-1:444455556666:training-job/big")] == 12.5
        assert drawn[("resources", "usd", "arn:aws:sagemaker:eu-west-1:444455556666:training-job/held")] == 50.0
        tallest = max(m["height"] for m in rendered.marks() if m["chart"] == "policy-usd")
        assert 0 < tallest <= 180
        # the totals, as people read them: dollars and cents, units
        assert rendered.text("#total-saved .value") == "$10.00/month"
        assert rendered.text("#total-avoided .value") == "$322.00"
        assert rendered.text("#total-pending .value") == "$55.00"
        assert rendered.text("#total-emitted .value") == "12.75 kgCO2e"
        assert rendered.text("#total-actions .value") == "4 applied"
        assert "1 held back, 3 dry-run" in rendered.text("#total-actions .sub")
        # the table and its filters
        assert rendered.page.locator("#table tbody tr").count() == 11
        rendered.page.select_option("#filter-outcome", "held back")
        assert rendered.page.locator("#table tbody tr").count() == 1
        assert "training-job/held" in rendered.text("#table tbody")
        rendered.page.select_option("#filter-outcome", "")
        rendered.page.fill("#filter-text", "endpoint/e")
        assert rendered.page.locator("#table tbody tr").count() == 1
        assert rendered.page.get_attribute("#table-note", "data-shown") == "1"
    finally:
        rendered.close()


def test_an_empty_log_and_malformed_lines_are_said(browser: Any, tmp_path: Path) -> None:
    from greenrail_cli.report import from_lines

    data = from_lines([("log.jsonl", 1, b"{oops"), ("log.jsonl", 2, b"")], "log.jsonl")
    rendered = open_report(browser, data, tmp_path / "empty.html")
    try:
        check_offline(rendered)
        assert "This log holds no decisions that could be read" in rendered.text("#empty-notice")
        notice = rendered.text("#malformed-notice")
        assert "1 malformed line skipped" in notice and "log.jsonl:1: not JSON" in notice
        assert rendered.page.locator("svg[data-empty=true]").count() == len(data["charts"])
        assert rendered.text("#total-saved .value") == "$0.00/month"
    finally:
        rendered.close()


def demo_decisions() -> list[Decision]:
    """The demo's decisions: those ``make demo`` wrote (greenrail-demo/decisions.jsonl, kept in
    tests/e2e/data/demo-decisions.jsonl: a demo run takes longer than this whole file), or, with
    ``GREENRAIL_REPORT_DEMO=1``, a fresh run of the demo."""
    if os.environ.get("GREENRAIL_REPORT_DEMO"):
        from greenrail_cli.demo import run_demo

        return [Decision.model_validate(d) for d in run_demo()["decisions"]]
    return [Decision.model_validate_json(line) for line in DEMO_LOG.read_text().splitlines()]


def test_the_demo_report(browser: Any, tmp_path: Path) -> None:
    """The report ``make demo`` writes (greenrail-demo/report.html, through ``write_outputs``), rendered."""
    from greenrail_cli.report import write_outputs

    decisions = demo_decisions()
    _, page = write_outputs(decisions, tmp_path / "demo", "greenrail demo (the embedded emulator)")
    rendered = Rendered(browser, page)
    try:
        data = _embedded(page)
        assert data["malformed"]["count"] == 0 and data["decisions"] == len(decisions)
        check_marks(rendered, data)
        check_offline(rendered)
        totals = data["totals"]
        everything = totals["saved_usd_per_month"] + totals["avoided_usd"] + totals["pending_usd"]
        assert everything == pytest.approx(sum(d.savings.usd_per_month for d in decisions), abs=0.0001)
        assert data["outcomes"]["applied"] == sum(d.applied for d in decisions)
        records = {d.resource: d.figures["kgco2e"] for d in decisions if d.action == "publish-carbon-record"}
        jobs = {m["category"]: m["value"] for m in rendered.marks() if m["chart"] == "jobs"}
        assert jobs == {resource: pytest.approx(kg) for resource, kg in records.items()}
        assert rendered.text("#total-emitted .value") == f"{sum(records.values()):,.2f} kgCO2e"
        assert rendered.page.locator("#table tbody tr").count() == len(decisions)
        shot = tmp_path / "report.png"
        rendered.page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        target = os.environ.get("GREENRAIL_REPORT_SCREENSHOT")
        if target:  # the README's: the top of the page, as a reader first sees it
            rendered.page.screenshot(path=target, full_page=False)
    finally:
        rendered.close()


def _embedded(page: Path) -> dict[str, Any]:
    from tests.unit.test_report import embedded

    return embedded(page.read_text())
