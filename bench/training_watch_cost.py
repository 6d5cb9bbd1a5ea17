"""Cost of governing: what watching one training job costs per job-hour, and per 1,000 job-hours.

Derived, not hard-coded: the states one watch turn passes through are read from
``statemachines/training_watch.asl.json`` (the cycle from StartAt back to itself along each
Choice's Default branch); Lambda Tasks are the ``lambda:invoke`` states in that cycle; the
interval is ``TrainingPolicy().check_interval_minutes``. The evaluate function's duration is
measured on the emulator (moto, in-process: a floor — real AWS round-trips are slower), unless
``--duration-ms`` is given.

Prices (us-east-1, checked against the public pricing pages):
* Step Functions Standard: $0.025 per 1,000 state transitions
  (https://aws.amazon.com/step-functions/pricing/).
* Lambda (x86): $0.20 per 1M requests and $0.0000166667 per GB-second
  (https://aws.amazon.com/lambda/pricing/).
* ml.g5.xlarge training: from greenrail/data/sagemaker_training_prices.json.
Free tiers are ignored. Each execution also has one-off transitions (start, the final
Succeed/Fail) not counted per hour; Task retries add transitions only when they happen.

Usage: python bench/training_watch_cost.py [--memory-mb 256] [--duration-ms N] [--turns 5]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from greenrail.policies.training import TrainingPolicy
from greenrail.pricing import training_price

ROOT = Path(__file__).resolve().parents[1]
ASL = ROOT / "statemachines" / "training_watch.asl.json"
SFN_USD_PER_TRANSITION = 0.025 / 1_000
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_USD_PER_GB_SECOND = 0.0000166667


def loop_states(definition: dict[str, Any]) -> list[str]:
    """The states of one turn: from StartAt, following Next / Choice Default, until a repeat."""
    states = definition["States"]
    path: list[str] = []
    name = definition["StartAt"]
    while name not in path:
        path.append(name)
        state = states[name]
        name = state.get("Next") or state.get("Default")
        if name is None:
            raise SystemExit(f"{path[-1]} ends the workflow: no loop found")
    return path[path.index(name) :]


def lambda_tasks(definition: dict[str, Any], names: list[str]) -> int:
    return sum(
        1
        for name in names
        if definition["States"][name]["Type"] == "Task"
        and "lambda:invoke" in definition["States"][name].get("Resource", "")
    )


def measure_evaluate_ms(turns: int) -> float:
    """Mean wall time of one watch turn's evaluate (describe, tags, metrics, decide) on moto."""
    import boto3
    from moto import mock_aws

    from greenrail import aws
    from greenrail.flows.watch import watch_step
    from greenrail_cli.emulator.moto_ext import sagemaker_training as ext

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    os.environ.pop("GREENRAIL_STATE_TABLE", None)
    ext.apply()
    aws.reset_clients()
    with mock_aws():
        boto3.client("sagemaker").create_training_job(
            TrainingJobName="bench",
            AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
            RoleArn="arn:aws:iam::123456789012:role/sm",
            OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
            ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 86400},
        )
        ext.set_training_job_status("bench", "InProgress", start_time=datetime.now(UTC) - timedelta(hours=3))
        now = datetime.now(UTC)
        boto3.client("cloudwatch").put_metric_data(
            Namespace="/aws/sagemaker/TrainingJobs",
            MetricData=[
                {
                    "MetricName": "GPUUtilization",
                    "Dimensions": [{"Name": "Host", "Value": "bench/algo-1"}],
                    "Timestamp": now - timedelta(minutes=m),
                    "Value": 80.0,
                }
                for m in range(70)
            ],
        )
        policy = TrainingPolicy()
        watch_step("bench", policy)  # warm the clients
        start = time.perf_counter()
        for _ in range(turns):
            watch_step("bench", policy)
        elapsed = (time.perf_counter() - start) / turns
    aws.reset_clients()
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-mb", type=int, default=256)
    parser.add_argument("--duration-ms", type=float, default=None)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()

    definition = json.loads(ASL.read_text())
    cycle = loop_states(definition)
    invokes = lambda_tasks(definition, cycle)
    interval_s = TrainingPolicy().check_interval_minutes * 60
    turns_per_hour = 3600 / interval_s
    duration_ms = args.duration_ms if args.duration_ms is not None else measure_evaluate_ms(args.turns)
    billed_ms = max(1.0, round(duration_ms))  # Lambda bills per 1 ms

    transitions_per_hour = turns_per_hour * len(cycle)
    invocations_per_hour = turns_per_hour * invokes
    gb_seconds_per_hour = invocations_per_hour * args.memory_mb / 1024 * billed_ms / 1000
    sfn_usd = transitions_per_hour * SFN_USD_PER_TRANSITION
    lambda_usd = (
        invocations_per_hour * LAMBDA_USD_PER_REQUEST + gb_seconds_per_hour * LAMBDA_USD_PER_GB_SECOND
    )
    per_1000 = 1000 * (sfn_usd + lambda_usd)
    g5_minute = training_price("ml.g5.xlarge").usd_per_hour / 60

    print(f"loop states per turn        : {len(cycle)} ({' -> '.join(cycle)})")
    print(f"interval (policy default)   : {interval_s} s -> {turns_per_hour:g} turns per job-hour")
    print(f"state transitions / job-hour: {transitions_per_hour:g}")
    print(
        f"Lambda invocations / job-hour: {invocations_per_hour:g} ({args.memory_mb} MB, {billed_ms:.0f} ms billed each"
        f"{' (measured on moto)' if args.duration_ms is None else ''})"
    )
    print(
        f"$ per job-hour              : {sfn_usd + lambda_usd:.6f} (Step Functions {sfn_usd:.6f}, Lambda {lambda_usd:.8f})"
    )
    print(f"$ per 1,000 job-hours       : {per_1000:.4f}")
    print(f"one minute of ml.g5.xlarge  : {g5_minute:.4f} $")
    print(f"1,000 watched job-hours cost {per_1000 / g5_minute:.2f} minutes of one ml.g5.xlarge")


if __name__ == "__main__":
    main()
