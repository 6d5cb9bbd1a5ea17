"""moto extension: CloudWatch percentiles, cheap value distributions, and a GetMetricData that scales.

moto 5.2.5 computes only ``Sum``, ``Average``, ``Minimum``, ``Maximum`` and ``SampleCount``: a
percentile statistic (``p99``) in a ``MetricStat`` yields ``None`` and the response fails to
serialise. ``PutMetricData`` with ``Values``/``Counts`` stores one datum per *count* (a minute of
1,000 requests is 1,000 objects), and ``GetMetricData`` compares every stored datum of the region
with every query and every period (a 14-day query at ``Period=60`` is 20,160 scans; 500 queries
over a region holding 500 series cost 500 x the whole region). This module fixes exactly that:

* ``Values``/``Counts`` are kept as one datum per call entry (a distribution); ``Sum``,
  ``Average``, ``Minimum``, ``Maximum`` and ``SampleCount`` are what they were;
* percentile statistics ``pNN`` / ``pNN.N`` in ``MetricStat``: nearest rank over the period's
  samples (single values, and ``Values``/``Counts`` distributions). As on CloudWatch, data
  published only as ``StatisticValues`` has no percentiles: a period holding nothing else is left
  out of the result;
* ``GetMetricData`` ``MetricStat`` queries read an index: the region's datapoints by namespace +
  metric name, and by namespace + name + dimension set (sorted pairs), each time-sorted, the
  window found by bisection; it is updated as datapoints are put, so a request costs its queries
  and the datapoints they return, not queries x region. Unit filter, labels, ``Id``/``ReturnData``,
  metric math over the results, periods (starting at ``StartTime``; empty ones omitted), period
  timestamps, ``ScanBy`` order and the values themselves (each period's datapoints in the order
  they were put, so sums are bit for bit moto's) are moto's. A query without dimensions matches
  any, as in moto. Two moto defects are not copied (CloudWatch's behaviour instead): a query
  with dimensions must also match the namespace (moto ignores it), and dimensions match as a
  set whatever their order (moto sorts them with a broken ``Dimension.__lt__``, so the same
  dimensions given in another order may not match). ``tests/unit/test_moto_ext_cloudwatch_metrics.py``
  holds the equivalence with moto's own method. Metrics Insights (``SELECT``) queries still go
  to moto.

Not done: ``GetMetricStatistics`` ``ExtendedStatistics`` (moto ignores them; use GetMetricData).
:func:`apply` is idempotent.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from datetime import timedelta
from typing import Any

from moto.cloudwatch import models
from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.metric_data_expression_parser import parse_expression

PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")

_applied = False


def percentile(samples: list[tuple[float, float]], p: float) -> float | None:
    """Nearest-rank percentile ``p`` (0-100) of weighted samples ``(value, count)``."""
    total = sum(count for _, count in samples if count > 0)
    if total <= 0:
        return None
    rank = max(1.0, math.ceil(p / 100.0 * total))
    seen = 0.0
    for value, count in sorted(samples):
        if count <= 0:
            continue
        seen += count
        if seen >= rank:
            return value
    return max(value for value, _ in samples)


_original_put = models.CloudWatchBackend.put_metric_data
_original_get_data = models.CloudWatchBackend.get_metric_data
_original_stat = models.Statistics.get_statistics_for_type


class MetricDistributionDatum(models.MetricAggregatedDatum):
    """``Values``/``Counts`` of one PutMetricData entry, stored once."""

    def __init__(self, namespace: str, name: str, values: list[float], counts: list[float],
                 dimensions: list[dict[str, str]], timestamp: Any, unit: Any = None):
        pairs = [(float(v), float(c)) for v, c in zip(values, counts, strict=True) if float(c) > 0]
        super().__init__(
            namespace, name,
            min_stat=min((v for v, _ in pairs), default=0.0),
            max_stat=max((v for v, _ in pairs), default=0.0),
            sample_count=sum(c for _, c in pairs),
            sum_stat=sum(v * c for v, c in pairs),
            dimensions=dimensions, timestamp=timestamp, unit=unit,
        )
        self.distribution = pairs


def put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    plain = []
    for index, member in enumerate(metric_data):
        if not member.get("Values"):
            plain.append(member)
            continue
        self._validate_parameters_put_metric_data(member, index + 1)
        values = member["Values"]
        counts = member.get("Counts") or [1] * len(values)
        self.metric_data.append(MetricDistributionDatum(
            namespace, member["MetricName"], values, counts, member.get("Dimensions", []),
            member.get("Timestamp"), member.get("Unit"),
        ))
    if plain:
        _original_put(self, namespace, plain)


def _samples(data: list[Any]) -> list[tuple[float, float]]:
    result: list[tuple[float, float]] = []
    for datum in data:
        if isinstance(datum, MetricDistributionDatum):
            result.extend(datum.distribution)
        elif isinstance(datum, models.MetricDatum):
            result.append((float(datum.value), 1.0))
    return result


def get_statistics_for_type(self: Any, stat: str) -> Any:
    match = PERCENTILE.match(stat or "")
    if match:
        return percentile(_samples(self.metric_data), float(match.group(1)))
    return _original_stat(self, stat)


def _dimensions_key(pairs: Any) -> tuple[tuple[Any, Any], ...]:
    """A dimension set as CloudWatch compares it: the (name, value) pairs, in any order."""
    return tuple(sorted(pairs))


class _Series:
    """The datapoints of one metric (or one metric and dimension set), sorted by (timestamp, order put)."""

    __slots__ = ("stamps", "entries", "ordered")

    def __init__(self) -> None:
        self.stamps: list[Any] = []
        self.entries: list[tuple[Any, int, Any]] = []  # (timestamp, position in the region's data, datum)
        self.ordered = True

    def add(self, entry: tuple[Any, int, Any]) -> None:
        if self.entries and (entry[0], entry[1]) < (self.entries[-1][0], self.entries[-1][1]):
            self.ordered = False
        self.entries.append(entry)
        self.stamps.append(entry[0])

    def settle(self) -> None:
        if not self.ordered:
            self.entries.sort(key=lambda entry: (entry[0], entry[1]))
            self.stamps = [entry[0] for entry in self.entries]
            self.ordered = True

    def window(self, start: Any, end: Any) -> list[tuple[Any, int, Any]]:
        return self.entries[bisect.bisect_left(self.stamps, start):bisect.bisect_left(self.stamps, end)]


class _MetricIndex:
    """A region's datapoints by (namespace, name) and by (namespace, name, dimension set), each
    time-sorted. Kept up to date as the region's list grows (it only ever grows: moto appends);
    rebuilt if the list is replaced or shrinks."""

    def __init__(self, source: list[Any]):
        self.source = source
        self.count = 0
        self.last: Any = None
        self.by_metric: dict[tuple[str, str], _Series] = {}
        self.by_series: dict[tuple[str, str, tuple[tuple[Any, Any], ...]], _Series] = {}

    def stale(self, data: list[Any]) -> bool:
        return (data is not self.source or len(data) < self.count
                or (self.count > 0 and data[self.count - 1] is not self.last))

    def extend(self, data: list[Any], first: int = 0) -> None:
        touched: dict[int, _Series] = {}
        for seq, datum in enumerate(data, start=first):
            entry = (datum.timestamp, seq, datum)
            metric = (datum.namespace, datum.name)
            key = (datum.namespace, datum.name, _dimensions_key((d.name, d.value) for d in datum.dimensions))
            for series in (self.by_metric.get(metric) or self.by_metric.setdefault(metric, _Series()),
                           self.by_series.get(key) or self.by_series.setdefault(key, _Series())):
                series.add(entry)
                touched[id(series)] = series
        for series in touched.values():
            series.settle()
        if data:
            self.count, self.last = first + len(data), data[-1]

    def select(self, namespace: str, name: str, dimensions: list[dict[str, Any]] | None,
               start: Any, end: Any) -> list[tuple[Any, int, Any]]:
        series = (self.by_series.get((namespace, name, _dimensions_key((d["Name"], d["Value"]) for d in dimensions)))
                  if dimensions else self.by_metric.get((namespace, name)))
        return series.window(start, end) if series is not None else []


_INDEX = "_greenrail_metric_index"
_lock = threading.Lock()


def _indexes(backend: Any) -> list[_MetricIndex]:
    """The backend's stored datapoints, indexed (updated in place), and its computed ones (moto's
    metric providers, e.g. S3 bucket sizes: new each call, as in moto), indexed for this call."""
    data = backend.metric_data
    index = backend.__dict__.get(_INDEX)
    if index is None or index.stale(data):
        index = _MetricIndex(data)
        setattr(backend, _INDEX, index)
    if index.count < len(data):
        index.extend(data[index.count:], index.count)
    computed = backend.aws_metric_data
    if not computed:
        return [index]
    extra = _MetricIndex(computed)
    extra.extend(computed, len(data))
    return [index, extra]


def _stat_result(query: dict[str, Any], indexes: list[_MetricIndex], start_time: Any, end_time: Any,
                 scan_by: str) -> dict[str, Any]:
    metric_stat = query["MetricStat"]
    metric = metric_stat["Metric"]
    unit = metric_stat.get("Unit")
    period = timedelta(seconds=int(metric_stat["Period"]))
    if period <= timedelta(0):
        raise ValidationError("The parameter MetricDataQueries.member.Period must be greater than 0.")
    buckets: dict[int, list[tuple[Any, int, Any]]] = {}
    for index in indexes:
        for entry in index.select(metric["Namespace"], metric["MetricName"], metric.get("Dimensions"),
                                  start_time, end_time):
            if not unit or entry[2].unit == unit:
                buckets.setdefault((entry[0] - start_time) // period, []).append(entry)
    stat = metric_stat["Stat"]
    values: list[Any] = []
    timestamps: list[Any] = []
    for number in sorted(buckets):
        stamp = start_time + number * period
        stats = models.Statistics([stat], stamp)
        stats.metric_data = [entry[2] for entry in sorted(buckets[number], key=lambda entry: entry[1])]  # moto's order
        value = stats.get_statistics_for_type(stat)
        if value is None:
            continue
        values.append(value)
        timestamps.append(stamp)
    if scan_by == "TimestampDescending":
        values.reverse()
        timestamps.reverse()
    return {"id": query["Id"], "label": query.get("Label") or f"{metric['MetricName']} {stat}",
            "values": values, "timestamps": timestamps, "status_code": "Complete"}


def get_metric_data(self: Any, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                    scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
    start_time = start_time.replace(microsecond=0)
    end_time = end_time.replace(microsecond=0)
    if start_time > end_time:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    if start_time == end_time:
        raise ValidationError("The parameter StartTime must not equal parameter EndTime.")
    results: list[dict[str, Any]] = []
    returned: list[dict[str, Any]] = []
    stat_queries = [q for q in queries if "MetricStat" in q]
    if stat_queries:
        with _lock:  # the threaded server answers requests concurrently; the index is shared
            indexes = _indexes(self)
            for query in stat_queries:
                result = _stat_result(query, indexes, start_time, end_time, scan_by)
                results.append(result)
                if query.get("ReturnData", True):
                    returned.append(dict(result))
    for query in (q for q in queries if "Expression" in q and not q["Expression"].startswith("SELECT")):
        values, timestamps = parse_expression(query["Expression"], results)
        returned.append({"id": query["Id"], "label": query.get("Label") or query["Id"], "values": values,
                         "timestamps": timestamps, "status_code": "Complete"})
    insights = [q for q in queries if "Expression" in q and q["Expression"].startswith("SELECT")]
    if insights:
        returned.extend(_original_get_data(self, insights, start_time, end_time, scan_by))
    return returned


def apply() -> None:
    """Patch moto's CloudWatch metrics (idempotent)."""
    global _applied
    if _applied:
        return
    models.CloudWatchBackend.put_metric_data = put_metric_data  # type: ignore[method-assign]
    models.CloudWatchBackend.get_metric_data = get_metric_data  # type: ignore[method-assign]
    models.Statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]
    _applied = True
