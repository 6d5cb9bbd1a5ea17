"""GetMetricData in batches of 500 queries, a few batches at a time: every series gets its own datapoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws

from greenrail.adapters import cloudwatch


@mock_aws
def test_more_queries_than_one_call_holds_come_back_each_with_its_own_series() -> None:
    hosts = cloudwatch.MAX_QUERIES_PER_CALL + 20  # two batches, asked together
    now = datetime.now(UTC).replace(microsecond=0)
    data = [{"MetricName": "GPUUtilization", "Dimensions": [{"Name": "Host", "Value": f"job-{i}/algo-1"}],
             "Timestamp": now - timedelta(minutes=3), "Value": float(i)} for i in range(hosts)]
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    for offset in range(0, hosts, 1000):
        cw.put_metric_data(Namespace="/aws/sagemaker/TrainingJobs", MetricData=data[offset:offset + 1000])
    queries = [cloudwatch.MetricQuery(id=f"q{i}", namespace="/aws/sagemaker/TrainingJobs", metric="GPUUtilization",
                                      dimensions={"Host": f"job-{i}/algo-1"}) for i in range(hosts)]

    series = cloudwatch.get_metric_series(queries, now - timedelta(minutes=5), now, 300)

    assert len(series) == hosts
    assert {query_id: found.values for query_id, found in series.items()} == {f"q{i}": [float(i)] for i in range(hosts)}
    assert all(len(found.timestamps) == 1 for found in series.values())
