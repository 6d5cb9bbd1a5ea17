"""The same job done by Greenrail and by Cloud Custodian, on the same emulated estate, per resource.

Estate: moto's ThreadedMotoServer on 127.0.0.1 (in this process), with two of Greenrail's moto
extensions applied first, the same for both tools: ``greenrail_cli.emulator.moto_ext.sagemaker_training``
(created jobs are InProgress) and ``greenrail_cli.emulator.moto_ext.cloudwatch_metrics`` (the
emulator's GetMetricData is indexed; moto's own compares every datapoint with every query and
period, a cost that grows with jobs squared where CloudWatch answers a 500-query request in
constant-ish time; Custodian makes no GetMetricData call, so only Greenrail's wall moves).
Seeded with ``--jobs`` SageMaker training jobs that started three hours ago, each tagged (team,
project; every ``--exempt-every``-th also ``greenrail:exempt=true``), and an hour of five-minute
GPU/CPU utilization datapoints per host in CloudWatch (some idle, most busy).

Job: list every InProgress training job with its tags and decide which are exempt.

* Greenrail: ``greenrail scan --policies training --format json --all`` (AWS_ENDPOINT_URL at the
  server). It does more than the job: Search (tags inline) and then GetMetricData for every
  host's utilization, and decides idle / runaway for every non-exempt job.
* Custodian: ``custodian run`` with a ``sagemaker-job`` policy (StatusEquals InProgress, filter
  ``tag:greenrail:exempt: "true"``), ``--cache-period 0``, output in a temporary directory.
  ``sagemaker-job`` enumerates with ListTrainingJobs, then one DescribeTrainingJob and one
  ListTags per job. A second variant holds two policies (exempt present / absent), the way a
  Custodian user gets both lists: with the cache off, each policy enumerates again.

Each is run as a command (a fresh process: start-up, imports and policy validation included),
wall clock, median of ``--repeat``. The same command against an empty region of the same server
(us-west-2) gives each tool's fixed cost, so the marginal cost per resource is
(wall - empty wall) / jobs. API calls are counted by a WSGI middleware in front of moto's app.
Each run's CPU (user + system seconds of the tool's process, from ``getrusage(RUSAGE_CHILDREN)``)
is the tool's own work: moto's is not in it (the server runs in this process), and a busy
machine moves it less than the wall clock. The target's ratio, Greenrail's time per job over
Custodian's (one policy), is printed for both.

The storage-object job has no Custodian counterpart: its ``s3`` resource is a bucket; there is
no per-object resource (only bucket-level filters and actions that walk keys), so only the
training job is compared.

Usage: python bench/scan_vs_custodian.py [--jobs 200] [--repeat 3] [--exempt-every 5]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[1]
GREENRAIL = ROOT / ".venv" / "bin" / "greenrail"
CUSTODIAN = ROOT / ".venv-c7n" / "bin" / "custodian"
ACCOUNT = "123456789012"  # moto's default account
REGION, EMPTY_REGION = "us-east-1", "us-west-2"
EXEMPT_TAG = "greenrail:exempt"
INSTANCE_TYPES = ["ml.g5.xlarge", "ml.g5.12xlarge", "ml.m5.xlarge", "ml.p4d.24xlarge", "ml.c5.2xlarge"]

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


# ---------------------------------------------------------------- the emulator, counting calls
class CallCounter:
    """WSGI middleware: counts requests by (service, operation) whatever the protocol."""

    def __init__(self, app: Any):
        self.app = app
        self.calls: Counter[tuple[str, str]] = Counter()
        self.busy: Counter[tuple[str, str]] = Counter()  # seconds spent inside moto, per operation
        self._lock = threading.Lock()

    def reset(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
        with self._lock:
            calls, busy, self.calls, self.busy = self.calls, self.busy, Counter(), Counter()
        return calls, busy

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)
        key = self._classify(environ)
        start = time.perf_counter()
        response = self.app(environ, start_response)
        elapsed = time.perf_counter() - start
        with self._lock:
            self.calls[key] += 1
            self.busy[key] += elapsed
        return response

    @staticmethod
    def _classify(environ: dict[str, Any]) -> tuple[str, str]:
        scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(2) if scope else "?"
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:  # JSON protocol: "SageMaker.Search"
            return service, target.rsplit(".", 1)[-1]
        path = environ.get("PATH_INFO", "")
        if "/operation/" in path:  # smithy RPC v2 CBOR: /service/<Svc>/operation/<Op>
            return service, path.rsplit("/", 1)[-1]
        action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
        if not action and environ.get("REQUEST_METHOD") == "POST":  # query protocol: Action= in the body
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        return service, action[0] if action else f"{environ.get('REQUEST_METHOD')} {path}"


def start_server() -> tuple[Any, CallCounter, str]:
    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from greenrail_cli.emulator.moto_ext import cloudwatch_metrics, sagemaker_training

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on stderr
    sagemaker_training.apply()  # in the server's process, before seeding: jobs are InProgress
    cloudwatch_metrics.apply()  # GetMetricData indexed (moto's is queries x datapoints x periods)
    counter = CallCounter(DomainDispatcherApplication(create_backend_app))

    class CountingMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            self._server = make_server(self._ip_address, self._port, counter, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    server = CountingMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, counter, f"http://{host}:{port}"


def seed(endpoint: str, jobs: int, exempt_every: int) -> dict[str, bool]:
    """Create the jobs and their metrics; return {job name: exempt}."""
    import boto3

    from greenrail.pricing import training_price
    from greenrail_cli.emulator.moto_ext import sagemaker_training

    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
    sm = session.client("sagemaker", endpoint_url=endpoint)
    cw = session.client("cloudwatch", endpoint_url=endpoint)
    now = datetime.now(UTC)
    expected: dict[str, bool] = {}
    metric_data: list[dict[str, Any]] = []
    for i in range(jobs):
        name = f"bench-job-{i:05d}"
        itype = INSTANCE_TYPES[i % len(INSTANCE_TYPES)]
        count = 1 + (i % 3 == 0)
        exempt = exempt_every > 0 and i % exempt_every == 0
        tags = [{"Key": "team", "Value": f"team-{i % 7}"}, {"Key": "project", "Value": f"p{i % 13}"}]
        if exempt:
            tags.append({"Key": EXEMPT_TAG, "Value": "true"})
        sm.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/sm",
            OutputDataConfig={"S3OutputPath": "s3://bench-bucket/out"},
            ResourceConfig={"InstanceType": itype, "InstanceCount": count, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 86400},
            Tags=tags,
        )
        sagemaker_training.set_training_job_status(name, "InProgress", start_time=now - timedelta(hours=3),
                                                   account_id=ACCOUNT, region=REGION)
        expected[name] = exempt
        price = training_price(itype)
        metric = "GPUUtilization" if price.gpus else "CPUUtilization"
        devices = price.gpus or price.vcpus or 1
        busy = i % 4 != 1  # one job in four is idle
        for host in range(1, count + 1):
            for minutes in range(0, 65, 5):
                metric_data.append({
                    "MetricName": metric, "Dimensions": [{"Name": "Host", "Value": f"{name}/algo-{host}"}],
                    "Timestamp": now - timedelta(minutes=minutes), "Value": (70.0 if busy else 0.5) * devices,
                })
    for offset in range(0, len(metric_data), 1000):  # PutMetricData: at most 1,000 datapoints per call
        cw.put_metric_data(Namespace="/aws/sagemaker/TrainingJobs", MetricData=metric_data[offset:offset + 1000])
    return expected


# ---------------------------------------------------------------- the two tools
def tool_env(endpoint: str, region: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GREENRAIL_", "POWERTOOLS_"))}
    env.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    })
    return env


CUSTODIAN_ONE = {"policies": [{
    "name": "training-exempt", "resource": "sagemaker-job",
    "query": [{"StatusEquals": "InProgress"}],
    "filters": [{f"tag:{EXEMPT_TAG}": "true"}],
}]}
CUSTODIAN_TWO = {"policies": [
    CUSTODIAN_ONE["policies"][0],
    {"name": "training-not-exempt", "resource": "sagemaker-job", "query": [{"StatusEquals": "InProgress"}],
     "filters": [{"or": [{f"tag:{EXEMPT_TAG}": "absent"},
                         {"type": "value", "key": f"tag:{EXEMPT_TAG}", "op": "ne", "value": "true"}]}]},
]}


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: the tool's own work, without
    moto's (the server runs in this process) and less at the mercy of a busy machine than the wall clock."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_greenrail(endpoint: str, region: str, workdir: Path) -> dict[str, Any]:
    cmd = [str(GREENRAIL), "scan", "--policies", "training", "--format", "json", "--all"]
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(cmd, env=tool_env(endpoint, region), capture_output=True, text=True, timeout=600)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"greenrail scan failed: {done.stderr.strip()[-500:]}")
    decisions = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    exempt = {d["resource"].rsplit("/", 1)[-1] for d in decisions if d["reason"].startswith("exempt")}
    return {"wall": wall, "cpu": cpu, "listed": len(decisions), "exempt": exempt,
            "actions": Counter(d["action"] for d in decisions)}


def run_custodian(endpoint: str, region: str, workdir: Path, policies: dict[str, Any]) -> dict[str, Any]:
    policy_file = workdir / "policy.json"
    policy_file.write_text(json.dumps(policies))
    out = Path(tempfile.mkdtemp(dir=workdir, prefix="c7n-out-"))
    cmd = [str(CUSTODIAN), "run", "-s", str(out), "--cache-period", "0", "-r", region, str(policy_file)]
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(cmd, env=tool_env(endpoint, region), capture_output=True, text=True, timeout=600)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"custodian run failed: {done.stderr.strip()[-800:]}")
    matched: dict[str, set[str]] = {}
    for policy in policies["policies"]:
        resources = out / policy["name"] / "resources.json"
        names = json.loads(resources.read_text()) if resources.exists() else []
        matched[policy["name"]] = {r["TrainingJobName"] for r in names}
    shutil.rmtree(out, ignore_errors=True)
    listed = len(set().union(*matched.values()))
    return {"wall": wall, "cpu": cpu, "listed": listed, "exempt": matched.get("training-exempt", set()),
            "matched": matched}


def measure(label: str, fn: Any, counter: CallCounter, repeat: int) -> dict[str, Any]:
    runs, calls, busy = [], Counter(), []
    for _ in range(repeat):
        counter.reset()
        runs.append(fn())
        calls, seconds = counter.reset()  # the calls are the same every run: keep the last
        busy.append(seconds)
    walls = [r["wall"] for r in runs]
    result = runs[-1]
    result["moto_by_op"] = busy[-1]
    result["wall"] = statistics.median(walls)
    result["walls"] = walls
    result["calls"] = calls
    result["moto"] = statistics.median(sum(b.values()) for b in busy)
    if all("cpu" in r for r in runs):  # the endpoints bench's runs time the wall clock only
        result["cpu"] = statistics.median(r["cpu"] for r in runs)
    result["label"] = label
    return result


# ---------------------------------------------------------------- report
def fmt_calls(calls: Counter[tuple[str, str]], busy: Counter[tuple[str, str]]) -> str:
    return ", ".join(f"{op} {n} ({busy[(svc, op)]:.2f} s in moto)"
                     for (svc, op), n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])))


def aws_calls_model(jobs: int, hosts: int, tool: str, policies: int = 1) -> int:
    """Calls the same run makes on AWS, where pages are real (moto ignores Search's MaxResults)."""
    if tool == "greenrail":
        # STS + Search pages + GetMetricData, + one listing each of warm pools (ListTrainingJobs), processing
        # jobs (ListProcessingJobs) and tuning jobs (Search): none here, so one page each
        return 1 + max(1, math.ceil(jobs / 100)) + math.ceil(hosts / 500) + 3
    return 1 + policies * (max(1, math.ceil(jobs / 100)) + 2 * jobs)  # STS + (ListTrainingJobs pages + 2/job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--exempt-every", type=int, default=5)
    args = parser.parse_args()
    for tool in (GREENRAIL, CUSTODIAN):
        if not tool.exists():
            raise SystemExit(f"{tool} is missing: run `make bench` (it creates .venv and .venv-c7n)")
    c7n_boto3 = subprocess.run([str(CUSTODIAN.parent / "python"), "-c",
                                "import boto3, c7n.version as v; print(v.version, boto3.__version__)"],
                               capture_output=True, text=True).stdout.split()

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    server, counter, endpoint = start_server()
    workdir = Path(tempfile.mkdtemp(prefix="greenrail-bench-"))
    try:
        t0 = time.perf_counter()
        expected = seed(endpoint, args.jobs, args.exempt_every)
        seeded_s = time.perf_counter() - t0
        counter.reset()
        want_exempt = {name for name, exempt in expected.items() if exempt}
        hosts = sum(1 + (i % 3 == 0) for i in range(args.jobs))

        rows = []
        for label, fn in [
            ("greenrail scan", lambda r: run_greenrail(endpoint, r, workdir)),
            ("custodian, 1 policy", lambda r: run_custodian(endpoint, r, workdir, CUSTODIAN_ONE)),
            ("custodian, 2 policies", lambda r: run_custodian(endpoint, r, workdir, CUSTODIAN_TWO)),
        ]:
            full = measure(label, lambda fn=fn: fn(REGION), counter, args.repeat)
            empty = measure(label, lambda fn=fn: fn(EMPTY_REGION), counter, args.repeat)
            rows.append((full, empty))

        print(f"scan vs Cloud Custodian: {args.jobs} InProgress SageMaker training jobs "
              f"({len(want_exempt)} tagged {EXEMPT_TAG}=true, {hosts} hosts), moto {_moto_version()} "
              f"ThreadedMotoServer on {endpoint} (seeded in {seeded_s:.1f} s)")
        print(f"  c7n {c7n_boto3[0] if c7n_boto3 else '?'} with boto3 {c7n_boto3[1] if len(c7n_boto3) > 1 else '?'} "
              "(honours AWS_ENDPOINT_URL: boto3 >= 1.28); each run a fresh process, "
              f"wall clock median of {args.repeat}; empty = same command on {EMPTY_REGION} (no jobs)")
        print("  the emulator's GetMetricData is indexed (greenrail_cli.emulator.moto_ext.cloudwatch_metrics); "
              "moto's own compares every datapoint with every query (and period)")
        print(f"  {'tool':<22} {'wall s':>7} {'empty s':>8} {'in moto s':>9} {'s/resource':>10} "
              f"{'marginal ms/res':>15} {'calls':>6} {'calls/res':>9} {'on AWS*':>7}  exempt found (check) / output")
        for full, empty in rows:
            n_calls = sum(full["calls"].values())
            marginal = (full["wall"] - empty["wall"]) / args.jobs
            tool = "greenrail" if full["label"].startswith("greenrail") else "custodian"
            policies = 2 if "2 policies" in full["label"] else 1
            agree = "ok" if full["exempt"] == want_exempt else "MISMATCH"
            print(f"  {full['label']:<22} {full['wall']:7.2f} {empty['wall']:8.2f} {full['moto']:9.2f} "
                  f"{full['wall'] / args.jobs:10.4f} {marginal * 1000:15.2f} {n_calls:6d} {n_calls / args.jobs:9.2f} "
                  f"{aws_calls_model(args.jobs, hosts, tool, policies):7d}  {len(full['exempt'])} ({agree}) / "
                  f"{full['listed']}")
        print("  * on AWS: the same run's calls with real paging (Search and ListTrainingJobs return at most "
              "100 per page; moto returns everything in one)")
        g, c = rows[0][0], rows[1][0]
        g_marg = (g["wall"] - rows[0][1]["wall"]) / args.jobs
        c_marg = (c["wall"] - rows[1][1]["wall"]) / args.jobs
        print(f"  ratio Greenrail speed / Custodian speed (1 policy): {c['wall'] / g['wall']:.2f}x end to end, "
              + (f"{c_marg / g_marg:.2f}x per resource at the margin" if g_marg > 0 else
                 "per-resource margin of Greenrail under the noise")
              + f"; API calls {sum(c['calls'].values()) / max(1, sum(g['calls'].values())):.1f}x fewer")
        g_calls = sum(g["calls"].values())
        print(f"  time per job, Greenrail / Custodian (1 policy) [target <= 0.5]: end to end (wall / jobs) "
              f"{g['wall'] / c['wall']:.2f}; the tool's own work (CPU of its process, user + system / jobs) "
              f"{g['cpu'] / c['cpu']:.2f}")
        print(f"  Greenrail API calls per job [target <= 0.05]: {g_calls / args.jobs:.3f} here, "
              f"{aws_calls_model(args.jobs, hosts, 'greenrail') / args.jobs:.3f} on AWS*")
        print("  moto's time counts the same for both: in both walls, in neither CPU (the server runs in this "
              "process). Of Greenrail's wall, the emulator answering GetMetricData (indexed) is "
              f"{g['moto_by_op'].get(('monitoring', 'GetMetricData'), 0):.2f} s in the last run, work Custodian's "
              "job does not ask for (it reads no metrics)")
        print(f"  per job: Greenrail {g['wall'] / args.jobs * 1000:.1f} ms wall, {g['cpu'] / args.jobs * 1000:.1f} ms "
              f"CPU; Custodian {c['wall'] / args.jobs * 1000:.1f} ms wall, {c['cpu'] / args.jobs * 1000:.1f} ms CPU")
        print("  calls, by operation (full estate, one run):")
        for full, _ in rows:
            print(f"    {full['label']:<22} {fmt_calls(full['calls'], full['moto_by_op'])}")
        print("  walls (s): " + "; ".join(
            f"{full['label']} {', '.join(f'{w:.2f}' for w in full['walls'])}" for full, _ in rows))
        print("  CPU (s), full / empty: " + "; ".join(
            f"{full['label']} {full['cpu']:.2f} / {empty['cpu']:.2f}" for full, empty in rows))
        print("  Greenrail also judged utilization and cost per job (Custodian did not): "
              + ", ".join(f"{k} {v}" for k, v in sorted(g["actions"].items())))
        print("  storage-object job: not compared - Custodian's s3 resource is the bucket; "
              "it has no per-object resource.")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


if __name__ == "__main__":
    sys.exit(main())
