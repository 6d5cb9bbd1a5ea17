"""The endpoints scan against Cloud Custodian's ``sagemaker-endpoint`` policy, on the same estate.

Estate: moto's ThreadedMotoServer on 127.0.0.1 (in this process) with Greenrail's emulator
extensions applied first (``sagemaker_endpoints``: Inference Recommender; ``cloudwatch_metrics``:
p99 and scalable GetMetricData), seeded with ``--endpoints`` real-time endpoints (one variant
each, one in ``--exempt-every`` tagged ``greenrail:exempt=true``), 14 days of Invocations and
ModelLatency per variant (one datapoint every four hours standing for its minute), and a
COMPLETED Inference Recommender job per model.

* Greenrail: ``greenrail scan --policies endpoints --format json --all``: ListEndpoints, then per
  endpoint DescribeEndpoint, ListTags, DescribeEndpointConfig, ListInferenceRecommendationsJobs
  and DescribeInferenceRecommendationsJob; one DescribeScalableTargets; and every variant's
  Invocations (per minute) and p99 ModelLatency in GetMetricData calls of up to 500 queries
  across all variants (two calls for 200 endpoints, not 400). It decides every variant.
* Custodian: ``custodian run`` with a ``sagemaker-endpoint`` policy filtering
  ``tag:greenrail:exempt: "true"`` (``--cache-period 0``): ListEndpoints, then DescribeEndpoint
  and ListTags per endpoint. It has no metrics filter for SageMaker and decides nothing.

The call counter, the tool environment and the timing are bench/scan_vs_custodian.py's. Without
Custodian's venv (``make bench`` creates .venv-c7n), Greenrail's figures are printed alone.

Usage: python bench/endpoints_scan.py [--endpoints 200] [--repeat 3] [--exempt-every 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scan_vs_custodian import (  # noqa: E402 - the shared machinery of the other comparison
    ACCOUNT,
    CUSTODIAN,
    EMPTY_REGION,
    EXEMPT_TAG,
    GREENRAIL,
    REGION,
    CallCounter,
    fmt_calls,
    measure,
    tool_env,
)

INSTANCE_TYPES = ["ml.m5.4xlarge", "ml.m5.2xlarge", "ml.c5.2xlarge", "ml.m5.xlarge", "ml.g4dn.xlarge"]
CUSTODIAN_POLICY = {"policies": [{"name": "endpoints-exempt", "resource": "sagemaker-endpoint",
                                  "filters": [{f"tag:{EXEMPT_TAG}": "true"}]}]}


def start_server() -> tuple[Any, CallCounter, str]:
    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from greenrail_cli.emulator.moto_ext import cloudwatch_metrics, sagemaker_endpoints

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sagemaker_endpoints.apply()
    cloudwatch_metrics.apply()
    counter = CallCounter(DomainDispatcherApplication(create_backend_app))

    class CountingMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            self._server = make_server(self._ip_address, self._port, counter, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    server = CountingMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, counter, f"http://{host}:{port}"


def seed(endpoint: str, count: int, exempt_every: int) -> set[str]:
    """The endpoints, their traffic and their recommendations; returns the exempt endpoints' names."""
    import boto3

    from greenrail_cli.emulator.moto_ext import sagemaker_endpoints as ext

    sm = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                               region_name=REGION).client("sagemaker", endpoint_url=endpoint)
    exempt = set()
    for i in range(count):
        name, kind = f"bench-ep-{i:04d}", INSTANCE_TYPES[i % len(INSTANCE_TYPES)]
        tags = [{"Key": "team", "Value": f"team-{i % 7}"}]
        if exempt_every and i % exempt_every == 0:
            tags.append({"Key": EXEMPT_TAG, "Value": "true"})
            exempt.add(name)
        sm.create_model(ModelName=f"{name}-model", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sm",
                        PrimaryContainer={"Image": "img:1"})
        sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": f"{name}-model", "InitialInstanceCount": 1 + (i % 3 == 0),
            "InstanceType": kind}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config", Tags=tags)
        ext.seed_variant_traffic(name, per_minute_invocations=0.0 if i % 10 == 3 else [40.0, 90.0, 60.0],
                                 step_minutes=240, account_id=ACCOUNT, region=REGION)
        ext.seed_recommendations_job(f"{name}-ir", model_name=f"{name}-model", account_id=ACCOUNT, region=REGION)
    return exempt


def run_greenrail(endpoint: str, region: str) -> dict[str, Any]:
    cmd = [str(GREENRAIL), "scan", "--policies", "endpoints", "--format", "json", "--all"]
    start = time.perf_counter()
    # moto answers one GetMetricData of 200 two-week per-minute series in more than the CLI's
    # interactive 6 s read timeout (CloudWatch pages it): the bench allows moto a minute
    env = {**tool_env(endpoint, region), "GREENRAIL_AWS_READ_TIMEOUT": "60"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"greenrail scan failed: {done.stderr.strip()[-500:]}")
    decisions = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    exempt = {d["resource"].rsplit("/", 1)[-1] for d in decisions if d["reason"].startswith("exempt")}
    return {"wall": wall, "listed": len(decisions), "exempt": exempt, "actions": Counter(d["action"] for d in decisions)}


def run_custodian(endpoint: str, region: str, workdir: Path) -> dict[str, Any]:
    policy_file = workdir / "policy.json"
    policy_file.write_text(json.dumps(CUSTODIAN_POLICY))
    out = Path(tempfile.mkdtemp(dir=workdir, prefix="c7n-out-"))
    cmd = [str(CUSTODIAN), "run", "-s", str(out), "--cache-period", "0", "-r", region, str(policy_file)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=tool_env(endpoint, region), capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"custodian run failed: {done.stderr.strip()[-800:]}")
    resources = out / "endpoints-exempt" / "resources.json"
    found = {r["EndpointName"] for r in json.loads(resources.read_text())} if resources.exists() else set()
    shutil.rmtree(out, ignore_errors=True)
    return {"wall": wall, "listed": len(found), "exempt": found}


def aws_calls_model(endpoints: int, exempt: int, tool: str) -> int:
    """Calls the same run makes on AWS, where pages are real: ListEndpoints holds 100 endpoints a
    page, GetMetricData 100,800 datapoints (14 days of per-minute sums are 20,160 per variant)."""
    pages = max(1, math.ceil(endpoints / 100))
    if tool == "greenrail":
        # STS, pages, 3 per endpoint (+2 Inference Recommender calls unless exempt), DescribeScalableTargets,
        # the per-minute batch's pages, the p99 batch (one datapoint per variant)
        per_minute = max(1, math.ceil(endpoints * 14 * 1440 / 100_800))
        return 1 + pages + 3 * endpoints + 2 * (endpoints - exempt) + 1 + per_minute + math.ceil(endpoints / 500)
    return 1 + pages + 2 * endpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--exempt-every", type=int, default=5)
    args = parser.parse_args()
    if not GREENRAIL.exists():
        raise SystemExit(f"{GREENRAIL} is missing: run `make bench`")
    with_custodian = CUSTODIAN.exists()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    server, counter, endpoint = start_server()
    workdir = Path(tempfile.mkdtemp(prefix="greenrail-bench-endpoints-"))
    try:
        t0 = time.perf_counter()
        want = seed(endpoint, args.endpoints, args.exempt_every)
        seeded = time.perf_counter() - t0
        counter.reset()
        tools: list[tuple[str, Any]] = [("greenrail scan", lambda r: run_greenrail(endpoint, r))]
        if with_custodian:
            tools.append(("custodian, 1 policy", lambda r: run_custodian(endpoint, r, workdir)))
        rows = []
        for label, fn in tools:
            full = measure(label, lambda fn=fn: fn(REGION), counter, args.repeat)
            empty = measure(label, lambda fn=fn: fn(EMPTY_REGION), counter, args.repeat)
            rows.append((full, empty))
        n = args.endpoints
        print(f"endpoints scan vs Cloud Custodian: {n} real-time endpoints ({len(want)} tagged {EXEMPT_TAG}=true), "
              f"14 days of metrics each, ThreadedMotoServer on {endpoint} (seeded in {seeded:.1f} s); wall clock "
              f"median of {args.repeat}, each run a fresh process; empty = the same command on {EMPTY_REGION}")
        print(f"  {'tool':<22} {'wall s':>7} {'empty s':>8} {'in moto s':>9} {'marginal ms/ep':>14} {'calls':>6} "
              f"{'calls/ep':>8} {'on AWS*':>7}  exempt found (check) / lines")
        for full, empty in rows:
            calls = sum(full["calls"].values())
            tool = "greenrail" if full["label"].startswith("greenrail") else "custodian"
            agree = "ok" if full["exempt"] == want else "MISMATCH"
            print(f"  {full['label']:<22} {full['wall']:7.2f} {empty['wall']:8.2f} {full['moto']:9.2f} "
                  f"{(full['wall'] - empty['wall']) / n * 1000:14.2f} {calls:6d} {calls / n:8.2f} "
                  f"{aws_calls_model(n, len(want), tool):7d}  {len(full['exempt'])} ({agree}) / {full['listed']}")
        print("  * on AWS: the same run with real paging (ListEndpoints: 100 endpoints a page; GetMetricData: "
              "100,800 datapoints a page, so two weeks of per-minute sums page, moto answers in one)")
        g = rows[0][0]
        metric_calls = sum(v for (svc, op), v in g["calls"].items() if op == "GetMetricData")
        print(f"  Greenrail GetMetricData calls: {metric_calls} for {n} variants (batches of up to 500 queries)")
        if with_custodian:
            c = rows[1][0]
            print(f"  ratio Greenrail speed / Custodian speed: {c['wall'] / g['wall']:.2f}x end to end; API calls "
                  f"{sum(g['calls'].values()) / max(1, sum(c['calls'].values())):.2f}x Custodian's (Greenrail also "
                  "reads the configs, Inference Recommender and two weeks of metrics, and decides)")
        else:
            print(f"  Cloud Custodian not installed ({CUSTODIAN}): `make bench` creates its venv; Greenrail alone")
        print("  calls, by operation (full estate, one run):")
        for full, _ in rows:
            print(f"    {full['label']:<22} {fmt_calls(full['calls'], full['moto_by_op'])}")
        print("  Greenrail's decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(g["actions"].items())))
        print("  walls (s): " + "; ".join(f"{f['label']} {', '.join(f'{w:.2f}' for w in f['walls'])}" for f, _ in rows))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
