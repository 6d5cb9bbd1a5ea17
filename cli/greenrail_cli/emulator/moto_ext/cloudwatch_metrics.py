"""moto extension: CloudWatch percentiles, cheap value distributions, and a GetMetricData that scales.

moto 5.2.5 computes only ``Sum``, ``Average``, ``Minimum``, ``Maximum`` and ``SampleCount``: a
percentile statistic (``p99``) in a ``MetricStat`` yields ``None`` and the response fails to
serialise. ``PutMetricData`` with ``Values``/``Counts`` stores one datum per *count* (a minute of
1,000 requests is 1,000 objects), and ``GetMetricData`` rescans every stored datum for every
period (a 14-day query at ``Period=60`` is 20,160 scans). This module fixes exactly that:

* ``Values``/``Counts`` are kept as one datum per call entry (a distribution); ``Sum``,
  ``Average``, ``Minimum``, ``Maximum`` and ``SampleCount`` are what they were;
* percentile statistics ``pNN`` / ``pNN.N`` in ``MetricStat``: nearest rank over the period's
  samples (single values, and ``Values``/``Counts`` distributions). As on CloudWatch, data
  published only as ``StatisticValues`` has no percentiles: a period holding nothing else is left
  out of the result;
* ``GetMetricData`` ``MetricStat`` queries select the metric once (namespace, name, exact
  dimension set, unit; a query without dimensions matches any, as moto does) and bucket it by
  period; periods, timestamps and ``ScanBy`` order are
  moto's (periods start at ``StartTime``; empty periods are omitted). Metric math and Metrics
  Insights queries still go to moto.

Not done: ``GetMetricStatistics`` ``ExtendedStatistics`` (moto ignores them; use GetMetricData).
:func:`apply` is idempotent.
"""

from __future__ import annotations

import math
import re
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


def _stat_result(query: dict[str, Any], in_range: list[Any], start_time: Any, scan_by: str) -> dict[str, Any]:
    metric_stat = query["MetricStat"]
    metric = metric_stat["Metric"]
    wanted = sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
    unit = metric_stat.get("Unit")
    selected = [
        md for md in in_range
        if md.namespace == metric["Namespace"] and md.name == metric["MetricName"]
        and (not wanted or sorted((d.name, d.value) for d in md.dimensions) == wanted)
        and (not unit or md.unit == unit)
    ]
    period = int(metric_stat["Period"])
    buckets: dict[int, list[Any]] = {}
    for md in selected:
        buckets.setdefault(int((md.timestamp - start_time).total_seconds()) // period, []).append(md)
    stat = metric_stat["Stat"]
    values: list[Any] = []
    timestamps: list[Any] = []
    for index in sorted(buckets):
        stamp = start_time + timedelta(seconds=index * period)
        stats = models.Statistics([stat], stamp)
        stats.metric_data = buckets[index]
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
    in_range = [md for md in self.get_all_metrics() if start_time <= md.timestamp < end_time]
    results: list[dict[str, Any]] = []
    returned: list[dict[str, Any]] = []
    for query in (q for q in queries if "MetricStat" in q):
        result = _stat_result(query, in_range, start_time, scan_by)
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
