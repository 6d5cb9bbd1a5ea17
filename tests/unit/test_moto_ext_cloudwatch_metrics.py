"""The emulator's indexed GetMetricData against moto's own (differential).

Random regions (metrics, dimension sets, units, timestamps around the window, single values,
``StatisticValues`` and ``Values``/``Counts``) and random requests (with and without dimensions,
every statistic moto computes, periods, units, labels, ``ReturnData``, expressions, ``ScanBy``)
go through moto 5.2.5's ``CloudWatchBackend.get_metric_data`` and through
``cloudwatch_metrics.get_metric_data`` on the same backend: the results must be identical, values
bit for bit. Outside what moto computes (percentiles, distributions kept whole) and where moto is
wrong (namespace ignored with dimensions, dimension order), the index is held to a linear scan
with CloudWatch's semantics, and the two moto defects are pinned.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from moto.cloudwatch import models
from moto.s3.models import s3_backends

from greenrail_cli.emulator.moto_ext import cloudwatch_metrics as cm

ACCOUNT = "000000000042"  # its own: no other test's S3 buckets show up as AWS/S3 metrics
START = datetime(2025, 3, 1, 12, 0, 0)  # moto keeps metric timestamps as naive UTC
STATS = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"]
PERIODS = [7, 60, 60, 300, 3600]
UNITS = [None, None, "Percent", "Count"]
DIMENSION_NAMES = ["Host", "Az", "Type"]


def backend() -> Any:
    return models.CloudWatchBackend(region_name="eu-west-3", account_id=ACCOUNT)


def moto_get(cw: Any, queries: list[dict[str, Any]], start: datetime, end: datetime, scan_by: str) -> Any:
    return cm._original_get_data(cw, queries, start, end, scan_by)


def indexed_get(cw: Any, queries: list[dict[str, Any]], start: datetime, end: datetime, scan_by: str) -> Any:
    return cm.get_metric_data(cw, queries, start, end, scan_by)


def linear_get(cw: Any, queries: list[dict[str, Any]], start: datetime, end: datetime, scan_by: str) -> Any:
    """CloudWatch's semantics, one linear scan per query (the reference outside moto's domain)."""
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    in_range = [md for md in cw.get_all_metrics() if start <= md.timestamp < end]
    results, returned = [], []
    for query in (q for q in queries if "MetricStat" in q):
        stat_query, metric = query["MetricStat"], query["MetricStat"]["Metric"]
        wanted = sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
        period, stat = int(stat_query["Period"]), stat_query["Stat"]
        buckets: dict[int, list[Any]] = {}
        for md in in_range:
            if (md.namespace == metric["Namespace"] and md.name == metric["MetricName"]
                    and (not wanted or sorted((d.name, d.value) for d in md.dimensions) == wanted)
                    and (not stat_query.get("Unit") or md.unit == stat_query["Unit"])):
                buckets.setdefault(int((md.timestamp - start).total_seconds()) // period, []).append(md)
        values, stamps = [], []
        for number in sorted(buckets):
            stats = models.Statistics([stat], start + timedelta(seconds=number * period))
            stats.metric_data = buckets[number]
            value = stats.get_statistics_for_type(stat)
            if value is not None:
                values.append(value)
                stamps.append(stats.timestamp)
        if scan_by == "TimestampDescending":
            values.reverse()
            stamps.reverse()
        result = {"id": query["Id"], "label": query.get("Label") or f"{metric['MetricName']} {stat}",
                  "values": values, "timestamps": stamps, "status_code": "Complete"}
        results.append(result)
        if query.get("ReturnData", True):
            returned.append(dict(result))
    for query in (q for q in queries if "Expression" in q):
        values, stamps = [], []
        for result in results:
            if result["id"] == query["Expression"]:
                values, stamps = values + result["values"], stamps + result["timestamps"]
        returned.append({"id": query["Id"], "label": query.get("Label") or query["Id"], "values": values,
                         "timestamps": stamps, "status_code": "Complete"})
    return returned


# ---------------------------------------------------------------- random regions and requests
class Region:
    """A random region's series and datapoints; ``moto_domain`` keeps to what moto gets right:
    each metric name in one namespace, each dimension set always in one order."""

    def __init__(self, rng: random.Random, moto_domain: bool):
        self.rng = rng
        self.series: list[tuple[str, str, list[dict[str, str]]]] = []
        orders: dict[tuple[str, str, frozenset[tuple[str, str]]], list[dict[str, str]]] = {}
        for ns in ("NS/A", "NS/B"):
            for m in range(rng.randint(1, 3)):
                name = f"{ns[-1]}{m}" if moto_domain else f"M{m}"  # outside: the same name in both
                for _ in range(rng.randint(1, 4)):
                    pairs = {(n, f"v{rng.randint(0, 2)}") for n in rng.sample(DIMENSION_NAMES, rng.randint(0, 3))}
                    key = (ns, name, frozenset(pairs))
                    dims = [{"Name": n, "Value": v} for n, v in rng.sample(sorted(pairs), len(pairs))]
                    if moto_domain:
                        dims = orders.setdefault(key, dims)
                    self.series.append((ns, name, dims))

    def stamp(self, span: int) -> datetime:
        rng = self.rng
        if rng.random() < 0.2:  # on a boundary: the window's start, its end, a period's start
            return START + timedelta(seconds=rng.choice([0, span, 60, 300, 3600, 7 * rng.randint(0, 50)]))
        return START + timedelta(seconds=rng.randint(-600, span + 600), microseconds=rng.choice([0, 0, rng.randint(1, 999_999)]))

    def put(self, cw: Any, count: int, span: int, distributions: bool) -> None:
        rng, by_namespace = self.rng, dict[str, list[dict[str, Any]]]()
        for _ in range(count):
            ns, name, dims = rng.choice(self.series)
            datum: dict[str, Any] = {"MetricName": name, "Dimensions": dims, "Timestamp": self.stamp(span)}
            if rng.random() < 0.5:
                datum["Unit"] = rng.choice(UNITS[2:])
            kind = rng.random()
            if kind < 0.6:
                datum["Value"] = round(rng.uniform(-5, 100), rng.randint(0, 6))
            elif kind < 0.8:
                n = rng.randint(1, 5)
                low, high = sorted(round(rng.uniform(0, 50), 3) for _ in range(2))
                datum["StatisticValues"] = {"SampleCount": n, "Sum": round(rng.uniform(low, high) * n, 4),
                                            "Minimum": low, "Maximum": high}
            else:
                datum["Values"] = [round(rng.uniform(0, 10), 2) for _ in range(rng.randint(1, 3))]
                datum["Counts"] = [rng.randint(1, 3) for _ in datum["Values"]]
            by_namespace.setdefault(ns, []).append(datum)
        for ns, data in by_namespace.items():
            (cm.put_metric_data if distributions else cm._original_put)(cw, ns, data)

    def queries(self, count: int, stats: list[str], moto_domain: bool) -> list[dict[str, Any]]:
        rng, queries = self.rng, []
        for q in range(count):
            ns, name, dims = rng.choice(self.series)
            pick = rng.random()
            if pick < 0.3:
                dims_asked: list[dict[str, str]] | None = None  # no dimensions: any set
            elif pick < 0.4:
                dims_asked = []
            elif pick < 0.5:
                dims_asked = dims[:-1] if dims else [{"Name": "Host", "Value": "nowhere"}]  # a subset: no match
            else:
                dims_asked = dims if moto_domain else rng.sample(dims, len(dims))  # reordered outside moto's domain
            if rng.random() < 0.05:
                name = "Absent"
            metric: dict[str, Any] = {"Namespace": ns, "MetricName": name}
            if dims_asked is not None:
                metric["Dimensions"] = dims_asked
            query: dict[str, Any] = {"Id": f"q{q}", "MetricStat": {
                "Metric": metric, "Period": rng.choice(PERIODS), "Stat": rng.choice(stats)}}
            if rng.random() < 0.3:
                query["MetricStat"]["Unit"] = rng.choice(UNITS[2:])
            if rng.random() < 0.2:
                query["Label"] = f"label {q}"
            if rng.random() < 0.2:
                query["ReturnData"] = False
            queries.append(query)
        for e in range(rng.randint(0, 2)):
            queries.insert(rng.randint(0, len(queries)), {"Id": f"e{e}", "Expression": f"q{rng.randrange(count)}"})
        return queries

    def window(self, span: int) -> tuple[datetime, datetime]:
        rng = self.rng
        start = START + timedelta(seconds=rng.choice([0, 0, rng.randint(-300, 300)]), microseconds=rng.choice([0, 123]))
        return start, START + timedelta(seconds=span, microseconds=rng.choice([0, 999]))


@pytest.mark.parametrize("seed", range(8))
def test_indexed_get_metric_data_is_moto_s(seed: int) -> None:
    rng = random.Random(seed)
    region, cw, span = Region(rng, moto_domain=True), backend(), rng.choice([600, 1800, 3600])
    for round_ in range(3):  # more datapoints between requests: the index follows
        region.put(cw, rng.randint(0 if round_ == 0 else 1, 200), span, distributions=False)
        for _ in range(2):
            queries, (start, end) = region.queries(rng.randint(1, 25), STATS, True), region.window(span)
            scan_by = rng.choice(["TimestampAscending", "TimestampDescending"])
            expected = moto_get(cw, queries, start, end, scan_by)
            assert indexed_get(cw, queries, start, end, scan_by) == expected
            assert expected == linear_get(cw, queries, start, end, scan_by)  # the reference agrees where moto is right


@pytest.mark.parametrize("seed", range(6))
def test_indexed_get_metric_data_beyond_moto_is_a_linear_scan(seed: int) -> None:
    """Percentiles, distributions, dimensions in any order, a name in two namespaces."""
    rng = random.Random(1000 + seed)
    region, cw, span = Region(rng, moto_domain=False), backend(), 3600
    for _ in range(3):
        region.put(cw, rng.randint(1, 200), span, distributions=True)
        queries, (start, end) = region.queries(rng.randint(1, 25), [*STATS, "p50", "p99", "p99.9"], False), region.window(span)
        scan_by = rng.choice(["TimestampAscending", "TimestampDescending"])
        assert indexed_get(cw, queries, start, end, scan_by) == linear_get(cw, queries, start, end, scan_by)


def query(metric: str, dims: list[dict[str, str]] | None, stat: str = "Sum", period: int = 60,
          namespace: str = "NS") -> dict[str, Any]:
    spec: dict[str, Any] = {"Namespace": namespace, "MetricName": metric}
    if dims is not None:
        spec["Dimensions"] = dims
    return {"Id": "q", "MetricStat": {"Metric": spec, "Period": period, "Stat": stat}}


def test_edges_no_data_and_window_boundaries() -> None:
    cw, end = backend(), START + timedelta(minutes=10)
    host = [{"Name": "Host", "Value": "h"}]
    both = [moto_get, indexed_get]
    for get in both:  # an empty region
        assert get(cw, [query("Cpu", host)], START, end, "TimestampAscending")[0]["values"] == []
    cm._original_put(cw, "NS", [
        {"MetricName": "Cpu", "Dimensions": host, "Timestamp": START, "Value": 1.0},  # on StartTime: in
        {"MetricName": "Cpu", "Dimensions": host, "Timestamp": START + timedelta(minutes=1), "Value": 2.0},  # a period's start
        {"MetricName": "Cpu", "Dimensions": host, "Timestamp": START + timedelta(seconds=59, microseconds=999_999), "Value": 4.0},
        {"MetricName": "Cpu", "Dimensions": host, "Timestamp": end, "Value": 8.0},  # on EndTime: out
    ])
    for get in both:
        result = get(cw, [query("Cpu", host)], START, end, "TimestampAscending")[0]
        assert result["values"] == [5.0, 2.0]
        assert result["timestamps"] == [START, START + timedelta(minutes=1)]
        assert get(cw, [query("Cpu", [{"Name": "Host", "Value": "other"}])], START, end, "TimestampAscending")[0]["values"] == []
        assert get(cw, [query("Cpu", None)], START, end, "TimestampAscending")[0]["values"] == [5.0, 2.0]


def test_a_period_adds_its_datapoints_in_the_order_put() -> None:
    """Float sums depend on order (even Python's compensated sum): moto adds a period's datapoints as
    they were put, not by time. Put newest first, added oldest first, these make 0.0, not 1e-300."""
    cw, end = backend(), START + timedelta(minutes=5)
    cm._original_put(cw, "NS", [{"MetricName": "Cpu", "Timestamp": START + timedelta(seconds=30 - i), "Value": v}
                                for i, v in enumerate([1e16, 1.0, -1.0, -1e16, 1e-300])])
    for get in (moto_get, indexed_get):
        assert get(cw, [query("Cpu", None, "Sum", 60)], START, end, "TimestampAscending")[0]["values"] == [1e-300]
        assert get(cw, [query("Cpu", None, "Average", 60)], START, end, "TimestampAscending")[0]["values"] == [2e-301]


def test_moto_defects_not_copied() -> None:
    """Dimensions in another order match (moto: not always); a namespace is honoured (moto mixes)."""
    cw, end = backend(), START + timedelta(minutes=5)
    put = [{"Name": "Host", "Value": "a"}, {"Name": "Az", "Value": "z"}]
    cm._original_put(cw, "NS", [{"MetricName": "Cpu", "Dimensions": put, "Timestamp": START, "Value": 3.0}])
    cm._original_put(cw, "Other", [{"MetricName": "Cpu", "Dimensions": put, "Timestamp": START, "Value": 5.0}])
    swapped = list(reversed(put))
    assert indexed_get(cw, [query("Cpu", swapped)], START, end, "TimestampAscending")[0]["values"] == [3.0]
    assert moto_get(cw, [query("Cpu", swapped)], START, end, "TimestampAscending")[0]["values"] == []
    assert indexed_get(cw, [query("Cpu", put)], START, end, "TimestampAscending")[0]["values"] == [3.0]
    assert moto_get(cw, [query("Cpu", put)], START, end, "TimestampAscending")[0]["values"] == [8.0]


def test_index_follows_puts_out_of_order_and_a_replaced_list() -> None:
    cw, end = backend(), START + timedelta(hours=1)
    host = [{"Name": "Host", "Value": "h"}]
    asked = [query("Cpu", host, "Maximum", 300)]
    for minute in (50, 10, 30, 0):  # each put after a request: the index grows, out of time order
        cm._original_put(cw, "NS", [{"MetricName": "Cpu", "Dimensions": host,
                                     "Timestamp": START + timedelta(minutes=minute), "Value": float(minute)}])
        assert indexed_get(cw, asked, START, end, "TimestampAscending") == moto_get(cw, asked, START, end, "TimestampAscending")
    assert indexed_get(cw, asked, START, end, "TimestampAscending")[0]["values"] == [0.0, 10.0, 30.0, 50.0]
    cw.metric_data = []  # replaced (as a reset does): rebuilt
    assert indexed_get(cw, asked, START, end, "TimestampAscending")[0]["values"] == []


def test_computed_metrics_of_other_services() -> None:
    """moto's metric providers (S3 bucket sizes, dated today) are read as moto reads them."""
    s3 = s3_backends[ACCOUNT]["aws"]
    s3.create_bucket("cw-index-bucket", "eu-west-3")
    try:
        cw = backend()
        today = datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)  # noqa: DTZ003 (moto's clock)
        dims = [{"Name": "StorageType", "Value": "AllStorageTypes"}, {"Name": "BucketName", "Value": "cw-index-bucket"}]
        asked = [query("NumberOfObjects", dims, "Maximum", 86400, "AWS/S3"), query("NumberOfObjects", None, "Sum", 3600, "AWS/S3")]
        asked[1]["Id"] = "q2"
        start, end = today - timedelta(days=1), today + timedelta(days=1)
        expected = moto_get(cw, asked, start, end, "TimestampAscending")
        assert expected[0]["values"] == [0]
        assert indexed_get(cw, asked, start, end, "TimestampAscending") == expected
    finally:
        s3.delete_bucket("cw-index-bucket")


def test_a_500_query_request_costs_its_queries_not_queries_times_the_region() -> None:
    """The scan's shape at the API's limit: 500 hosts x 13 datapoints, one query per host. moto (and
    a linear scan per query) take seconds; CloudWatch, and the index, a few milliseconds."""
    cw, namespace = backend(), "/aws/sagemaker/TrainingJobs"
    cm._original_put(cw, namespace, [
        {"MetricName": "GPUUtilization", "Dimensions": [{"Name": "Host", "Value": f"job-{j}/algo-1"}],
         "Timestamp": START + timedelta(minutes=5 * k), "Value": float(j % 100)} for j in range(500) for k in range(13)])
    asked = [query("GPUUtilization", [{"Name": "Host", "Value": f"job-{j}/algo-1"}], "Maximum", 300, namespace)
             for j in range(500)]
    for number, q in enumerate(asked):
        q["Id"] = f"q{number}"
    visited: list[int] = []
    select = cm._MetricIndex.select

    def counted(self: Any, *args: Any) -> Any:
        found = select(self, *args)
        visited.append(len(found))
        return found

    cm._MetricIndex.select = counted  # type: ignore[method-assign]
    try:
        results = indexed_get(cw, asked, START, START + timedelta(hours=2), "TimestampAscending")
    finally:
        cm._MetricIndex.select = select  # type: ignore[method-assign]
    assert [r["values"] for r in results] == [[float(j % 100)] * 13 for j in range(500)]
    assert sum(visited) == 500 * 13  # each query reads its own host's 13 datapoints, never the region's 6,500
