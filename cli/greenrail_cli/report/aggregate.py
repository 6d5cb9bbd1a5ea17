"""The figures of ``greenrail report``, computed while the decisions stream past.

Nothing keeps every decision: totals and groups are sums, the biggest resources and the table
are bounded heaps, the training jobs' carbon records are kept once per job. One million decisions
fit in well under 1 GiB (``bench/report_scale.py``).

How a decision counts:

* ``outcome``: ``applied``, ``held back`` (the blast radius), ``error``, ``dry-run`` (a dry-run
  decision that wanted an action), ``recommended`` (enforce mode, an action Greenrail only
  recommends), ``hold`` (a retraining hold in enforce mode), ``none`` (the resource complies, or is
  exempt).
* Its savings are *realised* when the action was applied, or when a retraining ``hold`` was made in
  enforce mode (a hold takes effect by not retraining); otherwise they are *not applied* (dry-run,
  recommendations, held back, errors). Realised savings are *saved* (recurring, USD per month) or
  *avoided* (one-off: ``figures.savings_basis`` starts with ``one-off``, e.g. a stopped runaway
  training job's remaining runtime).
* A decision found already applied (``already_applied``) adds no savings: its first application
  did. A resource decided again without being changed (a daily dry-run sweep) adds its not-applied
  savings once per (policy, resource, action).
* The carbon of a training job is its ``publish-carbon-record`` decision's record
  (``figures.kgco2e`` and ``figures.kwh``), once per job (the latest record wins); pre-flight
  estimates (``estimate-carbon``) are not emissions and are not counted.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, ValidationError

from greenrail.decision import Decision, Mode
from greenrail_cli.report.sources import Unreadable

TABLE_ROWS = 2000  # the table holds the most recent decisions, at most this many
TOP_RESOURCES = 15
TOP_JOBS = 30
MAX_CATEGORIES = 20  # accounts and regions beyond the biggest 20 are summed as "other"
MALFORMED_NAMED = 50
REASON_CHARS = 300

OUTCOMES = ("applied", "hold", "held back", "error", "dry-run", "recommended", "none")

# The slots of a group's sums
SAVED_USD, AVOIDED_USD, PENDING_USD, SAVED_KG, AVOIDED_KG, PENDING_KG, EMITTED_KG, KWH, DECISIONS = range(9)
SLOTS = 9

USD_SERIES = [("saved", "saved, $/month (recurring)", SAVED_USD),
              ("avoided", "avoided, $ (one-off)", AVOIDED_USD),
              ("pending", "not applied, $ (dry-run, recommended, held back)", PENDING_USD)]
KG_SERIES = [("saved", "saved, kgCO2e/month (recurring)", SAVED_KG),
             ("avoided", "avoided, kgCO2e (one-off)", AVOIDED_KG),
             ("pending", "not applied, kgCO2e", PENDING_KG),
             ("emitted", "emitted by training jobs, kgCO2e", EMITTED_KG)]


class LoggedDecision(Decision):
    """A decision as logged: fields this version does not know (a log written by a newer Greenrail)
    are ignored rather than making the line malformed."""

    model_config = ConfigDict(extra="ignore")


_validate_json = LoggedDecision.__pydantic_validator__.validate_json  # model_validate_json, a call less


class Malformed(ValueError):
    """A source line that is neither a decision nor an EventBridge event carrying one."""


def outcome_of(d: Decision) -> str:
    if d.applied:
        return "applied"
    if d.held_back:
        return "held back"
    if d.error is not None:
        return "error"
    if d.action == "none":
        return "none"
    if d.mode == Mode.DRY_RUN:
        return "dry-run"
    return "hold" if d.action == "hold" else "recommended"


def parse_line(raw: bytes | str) -> list[Decision]:
    """The decisions on one line: a bare Decision (its JSON), an EventBridge event whose ``detail``
    is one, or several of either written without a newline between them. Raises Malformed."""
    if b'"detail-type"' not in (raw if isinstance(raw, bytes) else raw.encode()):
        try:
            return [_finite(_validate_json(raw))]
        except ValidationError as exc:
            if exc.errors()[0]["type"] != "json_invalid":
                raise Malformed(f"not a decision: {_first_error(exc)}") from None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        objects = _json_objects(text)
    except ValueError as exc:
        raise Malformed(f"not JSON: {exc}") from None
    found = []
    for obj in objects:
        if isinstance(obj, dict) and "detail" in obj and "policy" not in obj:
            obj = obj["detail"]
            if isinstance(obj, str):
                try:
                    obj = json.loads(obj)
                except ValueError as exc:
                    raise Malformed(f"detail is not JSON: {exc}") from None
        try:
            found.append(_finite(LoggedDecision.model_validate(obj)))
        except ValidationError as exc:
            raise Malformed(f"not a decision: {_first_error(exc)}") from None
    return found


def _finite(d: Decision) -> Decision:
    if not (math.isfinite(d.savings.usd_per_month) and math.isfinite(d.savings.kgco2e_per_month)):
        raise Malformed("not a decision: savings: not a finite number")
    return d


def _json_objects(text: str) -> list[Any]:
    """Every JSON value in ``text`` (one, or several written back to back); raises ValueError."""
    decoder = json.JSONDecoder()
    found, position, end = [], 0, len(text.rstrip())
    while position < end:
        while text[position] in " \t\r\n":
            position += 1
        value, position = decoder.raw_decode(text, position)
        found.append(value)
    if not found:
        raise ValueError("empty")
    return found


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "line"
    return f"{where}: {error['msg']}"


class Aggregator:
    """Feed it lines (``feed``) or decisions (``add``); ``result()`` is the report's data."""

    def __init__(self, table_rows: int = TABLE_ROWS) -> None:
        self.table_rows = table_rows
        self.decisions = 0
        self.lines = 0
        self.malformed = 0
        self.malformed_named: list[str] = []
        self.outcomes: Counter[str] = Counter()
        self.totals = [0.0] * SLOTS
        self.groups: dict[str, dict[str, list[float]]] = {"policy": {}, "month": {}, "account": {}, "region": {}}
        self._seen_pending: set[int] = set()
        self._resources: list[tuple[float, int, Decision]] = []  # min-heap of the biggest
        self._table: list[tuple[float, int, Decision]] = []  # min-heap of the most recent
        self._jobs: dict[str, dict[str, Any]] = {}
        self._sequence = 0
        self.first: float | None = None  # POSIX timestamps
        self.last: float | None = None
        self._months: dict[int, str] = {}

    # -- input

    def feed(self, origin: str, number: int, raw: bytes | str) -> None:
        """One source line (``origin:number`` names it if it is malformed); blank lines are skipped."""
        if not raw or raw.isspace():
            return
        self.lines += 1
        try:
            if isinstance(raw, Unreadable):
                raise Malformed(raw.decode())
            decisions = parse_line(raw)
        except Malformed as exc:
            self.malformed += 1
            if len(self.malformed_named) < MALFORMED_NAMED:
                self.malformed_named.append(f"{origin}:{number}: {str(exc)[:200]}")
            return
        for decision in decisions:
            self.add(decision)

    def add(self, d: Decision) -> None:
        self.decisions += 1
        self._sequence += 1
        outcome = outcome_of(d)
        self.outcomes[outcome] += 1
        when = _utc(d.decided_at)
        stamp = when.timestamp()  # floats compare fast; aware datetimes ask their tzinfo each time
        if self.first is None or stamp < self.first:
            self.first = stamp
        if self.last is None or stamp > self.last:
            self.last = stamp
        month = self._month(when)
        groups = self.groups
        rows = [self._group(groups["policy"], d.policy), self._group(groups["month"], month),
                self._group(groups["account"], d.account), self._group(groups["region"], d.region), self.totals]
        for row in rows:
            row[DECISIONS] += 1
        usd, kg = d.savings.usd_per_month, d.savings.kgco2e_per_month
        realised = outcome == "applied" or outcome == "hold"
        counted = (usd or kg) and not d.already_applied
        if counted and not realised:
            key = hash((d.policy, d.resource, d.action))
            counted = key not in self._seen_pending
            self._seen_pending.add(key)
        if counted:
            if not realised:
                usd_slot, kg_slot = PENDING_USD, PENDING_KG
            elif _one_off(d):
                usd_slot, kg_slot = AVOIDED_USD, AVOIDED_KG
            else:
                usd_slot, kg_slot = SAVED_USD, SAVED_KG
            for row in rows:
                row[usd_slot] += usd
                row[kg_slot] += kg
            if usd > 0:  # a few more than shown: a resource may have several big decisions
                self._push(self._resources, TOP_RESOURCES * 4, usd, d)
        if d.action == "publish-carbon-record":  # not a pre-flight estimate: what the job emitted
            self._record_job(d, month)
        table = self._table
        if len(table) < self.table_rows or stamp > table[0][0]:
            self._push(table, self.table_rows, stamp, d)

    def _record_job(self, d: Decision, month: str) -> None:
        """The training job's carbon record, if the decision has one (the latest wins)."""
        carbon = d.figures.get("kgco2e")
        if isinstance(carbon, int | float) and math.isfinite(carbon):
            self._jobs[d.resource] = {
                "job": str(d.figures.get("training_job") or d.resource.rsplit("/", 1)[-1]),
                "resource": d.resource, "kg": float(carbon), "kwh": _number(d.figures.get("kwh")),
                "estimated": bool(d.figures.get("estimated")), "account": d.account, "region": d.region,
                "month": month}

    def _month(self, when: datetime) -> str:
        key = when.year * 100 + when.month
        name = self._months.get(key)
        if name is None:
            name = self._months[key] = f"{when.year:04d}-{when.month:02d}"
        return name

    @staticmethod
    def _group(groups: dict[str, list[float]], key: str) -> list[float]:
        row = groups.get(key)
        if row is None:
            row = groups[key] = [0.0] * SLOTS
        return row

    def _push(self, heap: list[Any], limit: int, rank: Any, item: Decision) -> None:
        entry = (rank, self._sequence, item)
        if len(heap) < limit:
            heapq.heappush(heap, entry)
        elif entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)

    # -- output

    def result(self, source: str) -> dict[str, Any]:
        """The report's data: JSON-ready, its size bounded whatever the number of decisions."""
        totals = list(self.totals)
        emitted = self._emitted()
        jobs = sorted(self._jobs.values(), key=lambda job: -job["kg"])
        totals[EMITTED_KG] = sum(job["kg"] for job in jobs)
        totals[KWH] = sum(job["kwh"] for job in jobs)
        return {
            "source": source,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "decisions": self.decisions,
            "lines": self.lines,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "malformed": {"count": self.malformed, "named": self.malformed_named},
            "outcomes": {name: self.outcomes.get(name, 0) for name in OUTCOMES},
            "totals": {
                "saved_usd_per_month": _round(totals[SAVED_USD]), "avoided_usd": _round(totals[AVOIDED_USD]),
                "pending_usd": _round(totals[PENDING_USD]),
                "saved_kgco2e_per_month": _round(totals[SAVED_KG]), "avoided_kgco2e": _round(totals[AVOIDED_KG]),
                "pending_kgco2e": _round(totals[PENDING_KG]),
                "emitted_kgco2e": _round(totals[EMITTED_KG]), "emitted_kwh": _round(totals[KWH]),
                "training_jobs": len(jobs),
            },
            "charts": self._charts(emitted, jobs),
            "table": {"rows": [_row(stamp, d) for stamp, _, d in sorted(self._table, key=lambda e: e[:2], reverse=True)],
                      "limit": self.table_rows, "total": self.decisions},
        }

    def _emitted(self) -> dict[str, Counter[str]]:
        """The training jobs' emissions by policy (all ``carbon``), month, account and region."""
        emitted: dict[str, Counter[str]] = {name: Counter() for name in self.groups}
        for job in self._jobs.values():
            emitted["policy"]["carbon"] += job["kg"]
            for dimension in ("month", "account", "region"):
                emitted[dimension][job[dimension]] += job["kg"]
        return emitted

    def _charts(self, emitted: dict[str, Counter[str]], jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        charts = []
        titles = {"policy": "by policy", "month": "by month", "account": "by account", "region": "by region"}
        for dimension, title in titles.items():
            groups = {key: list(row) for key, row in self.groups[dimension].items()}
            for key, kg in emitted[dimension].items():
                groups.setdefault(key, [0.0] * SLOTS)[EMITTED_KG] = kg
            keys = _order(dimension, groups)
            for unit, series in (("usd", USD_SERIES), ("kg", KG_SERIES)):
                if dimension == "policy" and unit == "kg":
                    series = series[:3]  # emissions are not a policy's: they are the jobs' (below)
                charts.append({
                    "id": f"{dimension}-{unit}", "kind": "bars", "unit": unit,
                    "title": ("Savings " if unit == "usd" else "Carbon ") + title + (" (USD)" if unit == "usd" else " (kgCO2e)"),
                    "categories": keys,
                    "series": [{"id": sid, "label": label, "values": [_round(groups[k][slot]) for k in keys]}
                               for sid, label, slot in series],
                })
        biggest: dict[str, list[Decision]] = {}  # resource -> its biggest decisions, biggest first
        for _, _, d in sorted(self._resources, key=lambda e: e[:2], reverse=True):
            biggest.setdefault(d.resource, []).append(d)
        resources = sorted(biggest.items(), key=lambda item: -sum(d.savings.usd_per_month for d in item[1]))
        resources = resources[:TOP_RESOURCES]
        charts.append({
            "id": "resources", "kind": "hbars", "unit": "usd",
            "title": f"Biggest resources (USD, the top {TOP_RESOURCES})",
            "categories": [resource for resource, _ in resources],
            "series": [{"id": "usd", "label": "USD (monthly or one-off)",
                        "values": [_round(sum(d.savings.usd_per_month for d in ds)) for _, ds in resources]}],
            "notes": ["; ".join(f"{d.policy} {d.action}, {outcome_of(d)}, {'one-off' if _one_off(d) else 'per month'}"
                                for d in ds) for _, ds in resources],
        })
        shown = jobs[:TOP_JOBS]
        charts.append({
            "id": "jobs", "kind": "hbars", "unit": "kg",
            "title": f"Carbon of each training job (kgCO2e, the top {TOP_JOBS} of {len(jobs)})"
            if len(jobs) > TOP_JOBS else "Carbon of each training job (kgCO2e)",
            "categories": [job["resource"] for job in shown],  # unique; the page shows the job's name
            "series": [{"id": "kg", "label": "kgCO2e", "values": [_round(job["kg"]) for job in shown]}],
            "notes": [f"{job['kwh']:.3f} kWh" + (", estimated" if job["estimated"] else "") + f", {job['region']}"
                      for job in shown],
        })
        return charts


def _order(dimension: str, groups: dict[str, list[float]]) -> list[str]:
    """Months in order; policies, accounts and regions biggest first (beyond MAX_CATEGORIES summed
    into ``other (N)``, which ``groups`` gains)."""
    if dimension == "month":
        return sorted(groups)

    def size(key: str) -> tuple[Any, ...]:
        row = groups[key]
        return -(row[SAVED_USD] + row[AVOIDED_USD] + row[PENDING_USD]), -row[EMITTED_KG], -row[DECISIONS], key

    keys = sorted(groups, key=size)
    if len(keys) <= MAX_CATEGORIES:
        return keys
    rest = keys[MAX_CATEGORIES - 1:]
    other = [sum(groups[key][slot] for key in rest) for slot in range(SLOTS)]
    label = f"other ({len(rest)})"
    groups[label] = other
    return keys[:MAX_CATEGORIES - 1] + [label]


def _utc(when: datetime) -> datetime:
    if when.utcoffset():  # zero (UTC) or None (naive, taken as UTC) are the usual cases, and cheap
        return when.astimezone(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _one_off(d: Decision) -> bool:
    basis = d.figures.get("savings_basis")
    return isinstance(basis, str) and basis.startswith("one-off")


one_off = _one_off  # public: the CLI's tables (greenrail_cli.output) split savings the same way


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _row(stamp: float, d: Decision) -> dict[str, Any]:
    """A table row."""
    return {"t": _iso(stamp), "policy": d.policy, "account": d.account, "region": d.region, "action": d.action,
            "mode": d.mode.value, "outcome": outcome_of(d), "usd": d.savings.usd_per_month,
            "kg": d.savings.kgco2e_per_month, "resource": d.resource, "reason": d.reason[:REASON_CHARS]}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _round(value: float) -> float:
    """Nine significant digits: enough for a cent on millions, and for a storage object's $0.00004."""
    return float(f"{value:.9g}")
