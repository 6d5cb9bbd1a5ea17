"""CloudWatch GetMetricData: many series in few calls.

One query per (metric, dimensions) series; queries go in batches of up to 500 (the API's
limit per request), a few batches at a time, and every page of a batch is followed. No
thresholds live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from greenrail.aws import client
from greenrail.permissions import calls

MAX_QUERIES_PER_CALL = 500  # GetMetricData: at most 500 MetricDataQuery per request
MAX_CONCURRENT_CALLS = 4  # batches asked at a time: bounded, under GetMetricData's rate limit (50 TPS)


class MetricQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str  # ^[a-z][a-zA-Z0-9_]*$, unique in the request
    namespace: str
    metric: str
    dimensions: dict[str, str]
    stat: str = "Maximum"


class MetricSeries(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    query: MetricQuery
    timestamps: list[datetime]
    values: list[float]


@calls("cloudwatch:GetMetricData")
def get_metric_series(
    queries: Sequence[MetricQuery], start: datetime, end: datetime, period: int, region: str | None = None
) -> dict[str, MetricSeries]:
    """The datapoints of every query between ``start`` and ``end``, keyed by query id."""
    series = {query.id: MetricSeries(query=query, timestamps=[], values=[]) for query in queries}
    cloudwatch = client("cloudwatch", region)
    batches = [queries[offset : offset + MAX_QUERIES_PER_CALL] for offset in range(0, len(queries), MAX_QUERIES_PER_CALL)]
    if len(batches) > 1:  # the batches are independent: a few at a time (each one's pages in turn)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_CALLS, len(batches))) as pool:
            answers = list(pool.map(lambda batch: _batch_results(cloudwatch, batch, start, end, period), batches))
    else:
        answers = [_batch_results(cloudwatch, batch, start, end, period) for batch in batches]
    for results in answers:
        for result in results:
            target = series.get(result["Id"])
            if target is not None:
                target.timestamps.extend(result.get("Timestamps", []))
                target.values.extend(float(v) for v in result.get("Values", []))
    return series


def _batch_results(cloudwatch: Any, batch: Sequence[MetricQuery], start: datetime, end: datetime,
                   period: int) -> list[dict[str, Any]]:
    """Every page of one GetMetricData request's MetricDataResults, in order."""
    kwargs: dict[str, Any] = {
        "MetricDataQueries": [
            {
                "Id": query.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": query.namespace,
                        "MetricName": query.metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in query.dimensions.items()],
                    },
                    "Period": period,
                    "Stat": query.stat,
                },
                "ReturnData": True,
            }
            for query in batch
        ],
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    results: list[dict[str, Any]] = []
    while True:
        response = cloudwatch.get_metric_data(**kwargs)
        results.extend(response.get("MetricDataResults", []))
        token = response.get("NextToken")
        if not token:
            return results
        kwargs["NextToken"] = token


def aggregate(values: Sequence[float], statistic: str) -> float | None:
    """One statistic over the datapoints of several periods (Average: their mean)."""
    if not values:
        return None
    if statistic == "Maximum":
        return max(values)
    if statistic == "Minimum":
        return min(values)
    if statistic in ("Sum", "SampleCount"):
        return float(sum(values))
    return sum(values) / len(values)


@calls("cloudwatch:ListMetrics")
def namespaces_of(metric: str, dimensions: dict[str, str], region: str | None = None) -> list[str]:
    """The namespaces that hold ``metric`` with these dimensions (AWS's own sources spell the
    Model Monitor namespaces three ways: FACTS.md, "Metrics"), sorted, from ListMetrics."""
    paginator = client("cloudwatch", region).get_paginator("list_metrics")
    found = {
        metric_record["Namespace"]
        for page in paginator.paginate(MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()])
        for metric_record in page.get("Metrics", [])
    }
    return sorted(found)


@calls("cloudwatch:PutMetricAlarm")
def put_threshold_alarm(name: str, description: str, namespace: str, metric: str, dimensions: dict[str, str],
                        statistic: str, period: int, threshold: float, region: str | None = None) -> None:
    """Create or update an alarm that goes to ALARM when the statistic is over the threshold."""
    client("cloudwatch", region).put_metric_alarm(
        AlarmName=name, AlarmDescription=description, Namespace=namespace, MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()], Statistic=statistic,
        Period=period, EvaluationPeriods=1, Threshold=threshold, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
