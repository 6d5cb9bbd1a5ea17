"""``greenrail report``: one self-contained HTML page of what Greenrail decided and saved.

The page needs no network: its charts are SVG drawn by a few lines of inline JavaScript, its data
is JSON inside the page (aggregates and a bounded table, whatever the size of the log).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from greenrail.decision import Decision
from greenrail_cli.report.aggregate import Aggregator
from greenrail_cli.report.sources import Line

PLACEHOLDER = "__GREENRAIL_DATA__"
DECISIONS_FILE = "decisions.jsonl"
REPORT_FILE = "report.html"


def from_lines(lines: Iterable[Line], source: str) -> dict[str, Any]:
    """The report's data from source lines (``greenrail_cli.report.sources.lines``)."""
    aggregator = Aggregator()
    for origin, number, raw in lines:
        aggregator.feed(origin, number, raw)
    return aggregator.result(source)


def from_decisions(decisions: Iterable[Decision], source: str) -> dict[str, Any]:
    aggregator = Aggregator()
    for decision in decisions:
        aggregator.add(decision)
    return aggregator.result(source)


def render_html(data: dict[str, Any]) -> str:
    """The page, with ``data`` inside it as JSON (every ``<`` escaped, so no ``</script>`` can end it)."""
    template = resources.files(__package__).joinpath("report.html").read_text(encoding="utf-8")
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False).replace("<", "\\u003c")
    return template.replace(PLACEHOLDER, payload, 1)


def write_html(data: dict[str, Any], path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(data), encoding="utf-8")
    return target


def write_outputs(decisions: list[Decision], directory: str | Path, source: str) -> tuple[Path, Path]:
    """``DIR/decisions.jsonl`` (every decision, one JSON object a line: what ``report --from`` reads)
    and ``DIR/report.html``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / DECISIONS_FILE
    with log.open("w", encoding="utf-8") as handle:
        for decision in decisions:
            handle.write(decision.model_dump_json() + "\n")
    page = write_html(from_decisions(decisions, source), folder / REPORT_FILE)
    return log, page
