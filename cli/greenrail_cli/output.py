"""How the CLI writes for people: money, carbon, tables that fit the terminal, progress on stderr.

Shared by ``greenrail scan``, ``greenrail carbon``, ``greenrail report`` and the demo, so they
print the same figures the same way:

* money in dollars and cents with its unit (``$12.34/month``, ``$300.00 one-off``); a fraction of a
  cent (one object's tiering) as a plain decimal (``$0.00003809``), never ``3.809e-05``;
* recurring savings apart from one-off avoided costs, as the report tells them apart
  (``greenrail_cli.report.aggregate.one_off``);
* a carbon record's energy and emissions (``12.35 kWh, 4.56 kgCO2e``) rather than its savings;
* tables with a header row, as wide as the terminal when there is one (long cells truncated with
  an ellipsis in the middle, or wrapped);
* progress: one updating line on stderr, only when stderr is a terminal and the work takes more
  than a second.
"""

from __future__ import annotations

import math
import shutil
import sys
import textwrap
import threading
from collections.abc import Collection, Sequence
from typing import Any, TextIO

ELLIPSIS = "…"
SEPARATOR = "  "
MIN_TRUNCATED = 24  # a truncated cell keeps at least this many characters (else: under its row)
MIN_WRAPPED = 30
PROGRESS_DELAY = 1.0  # seconds before progress shows: a quick scan prints nothing


# ---------------------------------------------------------------- numbers
def usd(value: float) -> str:
    """Dollars and cents; a fraction of a cent in plain decimals (four significant digits)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == 0 or value >= 0.01 or not math.isfinite(value):
        return f"{sign}${value:,.2f}"
    decimals = min(12, 3 - math.floor(math.log10(value)))
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return f"{sign}${text}" if text.strip("0.") else "$0.00"


def amount(value: float) -> str:
    """A quantity (kgCO2e, kWh): two decimals, or a small one in plain decimals (never 1e-05)."""
    if value == 0 or abs(value) >= 0.01 or not math.isfinite(value):
        return f"{value:,.2f}"
    decimals = min(12, 3 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return text if text.strip("-0.") else "0.00"


def significant(value: float, digits: int = 4) -> str:
    """``digits`` significant digits as a plain decimal: ``12.35``, ``0.00003809``, ``123,457``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, min(15, digits - 1 - math.floor(math.log10(abs(value)))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---------------------------------------------------------------- decisions
def one_off(decision: Any) -> bool:
    """A one-off avoided cost (``figures.savings_basis`` starts with ``one-off``), as the report decides."""
    from greenrail_cli.report.aggregate import one_off as decides

    return decides(decision)


def savings(decision: Any) -> str:
    """The decision's savings with their unit; ``-`` for none."""
    value = decision.savings.usd_per_month
    if not value:
        return "-"
    return usd(value) + (" one-off" if one_off(decision) else "/month")


def carbon(decision: Any) -> str:
    """A carbon record's energy and emissions, a pre-flight estimate's upper bound, else the carbon
    the decision saves (per month or one-off); ``-`` for none."""
    figures = decision.figures
    if decision.action == "publish-carbon-record" and _number(figures.get("kgco2e")) is not None:
        text = f"{amount(_number(figures.get('kwh')) or 0.0)} kWh, {amount(_number(figures['kgco2e']) or 0.0)} kgCO2e"
        return text + (" (estimated)" if figures.get("estimated") else "")
    bound = figures.get("upper_bound")
    if decision.action == "estimate-carbon" and isinstance(bound, dict) and _number(bound.get("kgco2e")) is not None:
        return (f"up to {amount(_number(bound.get('kwh')) or 0.0)} kWh, "
                f"{amount(_number(bound['kgco2e']) or 0.0)} kgCO2e")
    value = decision.savings.kgco2e_per_month
    if not value:
        return "-"
    return f"{amount(value)} kgCO2e" + (" one-off" if one_off(decision) else "/month")


def totals(decisions: Sequence[Any]) -> str:
    """``savings $X/month recurring, $Y one-off; A kgCO2e/month, B kgCO2e one-off`` and, with carbon
    records, ``carbon records: N job(s), K kWh, E kgCO2e emitted``."""
    recurring = [d for d in decisions if not one_off(d)]
    once = [d for d in decisions if one_off(d)]
    text = (f"savings {usd(sum(d.savings.usd_per_month for d in recurring))}/month recurring, "
            f"{usd(sum(d.savings.usd_per_month for d in once))} one-off; "
            f"{amount(sum(d.savings.kgco2e_per_month for d in recurring))} kgCO2e/month, "
            f"{amount(sum(d.savings.kgco2e_per_month for d in once))} kgCO2e one-off")
    records = {d.resource: d for d in decisions
               if d.action == "publish-carbon-record" and _number(d.figures.get("kgco2e")) is not None}
    if records:
        kwh = sum(_number(d.figures.get("kwh")) or 0.0 for d in records.values())
        kg = sum(_number(d.figures.get("kgco2e")) or 0.0 for d in records.values())
        text += f"; carbon records: {len(records)} job(s), {amount(kwh)} kWh, {amount(kg)} kgCO2e emitted"
    return text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


# ---------------------------------------------------------------- tables
def terminal_width(stream: TextIO | None = None) -> int | None:
    """The terminal's width when ``stream`` (stdout) is one; None (no limit) when it is a pipe or a file."""
    stream = stream or sys.stdout
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):  # closed, or not a real stream
        return None
    return shutil.get_terminal_size().columns


def table(header: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None, *,
          right: Collection[str] = (), truncate: Collection[str] = (), wrap: Collection[str] = (),
          squeeze: Collection[str] = ()) -> list[str]:
    """The lines of a table: ``header`` first, columns two spaces apart, no trailing spaces.

    With a ``width``: first the ``truncate`` columns lose the middle of long cells (an ellipsis marks
    it) and the ``wrap`` columns wrap, widest first, down to a minimum; then the ``squeeze`` columns
    wrap between words. A terminal too narrow even then gets each row's ``truncate`` and ``wrap``
    cells on lines of their own, under it (``  RESOURCE  ...``)."""
    cells = [[str(cell) for cell in row] for row in rows]
    return _fit(header, cells, width, right, truncate, wrap, squeeze)


def _fit(header: Sequence[str], rows: list[list[str]], width: int | None, right: Collection[str],
         truncate: Collection[str], wrap: Collection[str], squeeze: Collection[str]) -> list[str]:
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(header)]
    if width is None:
        return _lines(header, rows, widths, right, wrap, squeeze)
    primary = {i: max(len(name), MIN_WRAPPED if name in wrap else MIN_TRUNCATED)
               for i, name in enumerate(header) if name in truncate or name in wrap}
    secondary = {i: max([len(name)] + [len(word) for row in rows for word in row[i].split()])  # whole words
                 for i, name in enumerate(header) if name in squeeze}
    excess = sum(widths) + len(SEPARATOR) * (len(header) - 1) - width
    for tier in (primary, secondary):
        excess = _shrink(widths, tier, excess)
    if excess <= 0 or not primary:  # fits (or nothing can go under the row: wider than the terminal)
        return _lines(header, rows, widths, right, wrap, squeeze)
    # too narrow for every column side by side: the long cells under their row
    kept = [i for i, name in enumerate(header) if i not in primary]
    kept_widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in kept]
    _shrink(kept_widths, {n: secondary[i] for n, i in enumerate(kept) if i in secondary},
            sum(kept_widths) + len(SEPARATOR) * (len(kept) - 1) - width)
    names = [header[i] for i in kept]
    label = max(len(header[i]) for i in primary)
    room = max(MIN_TRUNCATED, width - 4 - label)
    lines = _lines(names, [], kept_widths, right, wrap, squeeze)
    for row in rows:
        lines += _lines(names, [[row[i] for i in kept]], kept_widths, right, wrap, squeeze)[1:]
        for i in primary:
            parts = _wrapped(row[i], room) if header[i] in wrap else [middle_ellipsis(row[i], room)]
            lines += [f"  {(header[i] if n == 0 else '').ljust(label)}  {part}".rstrip() for n, part in enumerate(parts)]
    return lines


def _shrink(widths: list[int], flexible: dict[int, int], excess: int) -> int:
    """Narrow the ``flexible`` columns (index: minimum), the widest first, by up to ``excess``; what is left."""
    while excess > 0:
        shrinkable = [i for i, least in flexible.items() if widths[i] > least]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        others = [widths[i] for i in shrinkable if i != widest]
        cut = min(excess, widths[widest] - flexible[widest])
        if others:  # down to the next widest first, so the cuts are shared
            cut = min(cut, max(1, widths[widest] - max(others)))
        widths[widest] -= cut
        excess -= cut
    return excess


def _wrapped(text: str, width: int) -> list[str]:
    """Lines of at most ``width``, broken between words (``Intelligent-Tiering`` and ``one-off`` stay
    whole) unless a word is longer than the line."""
    return textwrap.wrap(text, max(1, width), break_long_words=True, break_on_hyphens=False) or [""]


def _lines(header: Sequence[str], rows: list[list[str]], widths: list[int] | None, right: Collection[str],
           wrap: Collection[str], squeeze: Collection[str]) -> list[str]:
    if widths is None:
        widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(header)]
    lines = []
    for row in [list(header), *rows]:
        cells: list[list[str]] = []
        for i, cell in enumerate(row):
            if len(cell) <= widths[i]:
                cells.append([cell])
            elif header[i] in wrap or header[i] in squeeze:
                cells.append(_wrapped(cell, widths[i]))
            else:
                cells.append([middle_ellipsis(cell, widths[i])])
        for n in range(max(len(parts) for parts in cells)):
            line = SEPARATOR.join((parts[n] if n < len(parts) else "").rjust(widths[i]) if header[i] in right
                                  else (parts[n] if n < len(parts) else "").ljust(widths[i])
                                  for i, parts in enumerate(cells))
            lines.append(line.rstrip())
    return lines


def middle_ellipsis(text: str, width: int) -> str:
    """``text`` in ``width`` characters: its start and its (longer) end, an ellipsis between."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = (width - 1) * 2 // 5
    return text[:head] + ELLIPSIS + text[len(text) - (width - 1 - head):]


# ---------------------------------------------------------------- progress
class Progress:
    """One updating line on stderr while work runs (``with Progress("greenrail scan") as p:``): only
    when stderr is a terminal, and only once the work has taken more than ``PROGRESS_DELAY``
    seconds; cleared at the end, so what the command prints afterwards is all that stays."""

    def __init__(self, prefix: str, stream: TextIO | None = None, delay: float | None = None) -> None:
        self.prefix = prefix
        self.stream = stream or sys.stderr
        try:
            self.enabled = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.enabled = False
        self.total = 0
        self.done = 0
        self.current = ""
        self._visible = False  # the delay has passed
        self._drawn = False  # a line is on the terminal
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        delay = PROGRESS_DELAY if delay is None else delay
        if self.enabled and delay > 0:
            self._timer = threading.Timer(delay, self._reveal)
            self._timer.daemon = True
            self._timer.start()
        elif self.enabled:
            self._visible = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def expect(self, steps: int) -> None:
        with self._lock:
            self.total += steps

    def start(self, label: str) -> None:
        """``label`` (e.g. ``storage in us-east-1``) is being worked on."""
        with self._lock:
            self.current = label
            self._draw()

    def step(self) -> None:
        """One more step done."""
        with self._lock:
            self.done += 1
            self._draw()

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._visible = False
            if self._drawn:
                self._write("\r\x1b[K")
                self._drawn = False

    def _reveal(self) -> None:
        with self._lock:
            if self._timer is None or self._timer.finished.is_set():
                return  # closed (cancelled) meanwhile
            self._visible = True
            self._draw()

    def _draw(self) -> None:
        if not self._visible:
            return
        counted = f" ({self.done}/{self.total} done)" if self.total else ""
        text = f"{self.prefix}: scanning {self.current}{counted}" if self.current else f"{self.prefix}{counted}"
        limit = max(10, shutil.get_terminal_size().columns - 1)
        self._write("\r\x1b[K" + middle_ellipsis(text, limit))
        self._drawn = True

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a terminal that went away is no reason to fail the scan
            self.enabled = False
