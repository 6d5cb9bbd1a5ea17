"""Per-event decision time of the storage and training rules, without any AWS call.

* storage: ``greenrail.policies.storage.decide(obj, bucket, policy, account, region)`` over
  synthetic objects (keys in train/test/raw/other folders, sizes either side of the 128 KiB
  minimum, several storage classes, some exempt or already tagged);
* training: ``greenrail.policies.training.decide(job, hosts, policy, now, price)`` over
  synthetic InProgress jobs (busy, idle, warming up, runaway, exempt; GPU, CPU and Trainium
  types; one or two hosts with an hour of five-minute datapoints each). Prices
  are looked up once per instance type beforehand, as inputs.

Baseline, measured in the same run: parsing the sample event ``events/s3-object-created.json``
with ``greenrail.events.S3ObjectCreated.model_validate`` (the first thing the storage handler
does with every event). Each figure is the median of ``--rounds`` passes over all inputs.

Usage: python bench/decide_per_event.py [--events 20000] [--training-events 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from greenrail.events import S3ObjectCreated
from greenrail.policies import storage, training
from greenrail.policies.storage import StoragePolicy
from greenrail.policies.training import TrainingPolicy
from greenrail.pricing import training_price

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT, REGION = "123456789012", "us-east-1"


def per_item_us(fn: Callable[[Any], Any], items: Sequence[Any], rounds: int) -> float:
    """Median over rounds of (time for one pass over items) / len(items), in microseconds."""
    for item in items[: min(200, len(items))]:  # warm caches (price table, regexes, pydantic)
        fn(item)
    passes = []
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            fn(item)
        passes.append((time.perf_counter() - start) / len(items) * 1e6)
    return statistics.median(passes)


def storage_inputs(n: int) -> list[tuple[storage.StorageObject, storage.Bucket]]:
    folders = ["datasets/churn/train", "datasets/churn/test", "datasets/churn/validation", "raw/2026/11",
               "models/checkpoints", "logs", "features/val"]
    classes = ["STANDARD", "STANDARD", "STANDARD", "ONEZONE_IA", "INTELLIGENT_TIERING", "STANDARD_IA"]
    sizes = [4 * 1024, 96 * 1024, 256 * 1024, 3 * 1024**2, 750 * 1024**2, 12 * 1024**3]
    governed = storage.Bucket("acme-ml-datasets", {"greenrail:storage": "managed"})
    exempt_bucket = storage.Bucket("acme-ml-exempt", {"greenrail:storage": "managed", "greenrail:exempt": "true"})
    out = []
    for i in range(n):
        tags: dict[str, str] = {}
        if i % 17 == 0:
            tags["greenrail:exempt"] = "true"
        elif i % 11 == 0:
            tags["greenrail:storage-class"] = "ONEZONE_IA"
        elif i % 3 == 0:
            tags["team"] = "churn"
        bucket = exempt_bucket if i % 50 == 0 else governed
        obj = storage.StorageObject(bucket.name, f"{folders[i % len(folders)]}/part-{i:05d}.parquet",
                                    sizes[(i // 7) % len(sizes)], f"{i:032x}", classes[(i // 3) % len(classes)], tags)
        out.append((obj, bucket))
    return out


def training_inputs(n: int, now: datetime) -> list[tuple[training.TrainingJobSnapshot, list[Any], Any]]:
    types = ["ml.g5.xlarge", "ml.g5.12xlarge", "ml.p4d.24xlarge", "ml.m5.xlarge", "ml.c5.2xlarge", "ml.trn1.32xlarge"]
    prices = {t: training_price(t) for t in types}
    # kind: (hours running, utilization per device %, tags)
    kinds = [(3.0, 80.0, {}), (3.0, 1.0, {}), (0.2, 0.0, {}), (80.0, 60.0, {}),
             (3.0, 1.0, {"greenrail:exempt": "true"}), (5.0, 70.0, {"greenrail:budget-usd": "20"})]
    out = []
    for i in range(n):
        itype = types[i % len(types)]
        hours, util, tags = kinds[(i // len(types)) % len(kinds)]
        count = 1 + (i % 2)
        name = f"job-{i:05d}"
        job = training.TrainingJobSnapshot(
            name=name, arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}", status="InProgress",
            instance_type=itype, instance_count=count, start_time=now - timedelta(hours=hours),
            elapsed_seconds=hours * 3600, tags=dict(tags), account=ACCOUNT, region=REGION,
        )
        basis = training.utilization_basis(itype, prices[itype])
        metric = basis.metric if basis else "GPUUtilization"
        devices = basis.devices if basis else 1
        stamps = [now - timedelta(minutes=5 * m) for m in range(13)]
        hosts = [training.HostUtilization(host=h, metric=metric, timestamps=stamps,
                                          values=[util * devices] * len(stamps)) for h in job.hosts]
        out.append((job, hosts, prices[itype]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--training-events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    sample = json.loads((ROOT / "events" / "s3-object-created.json").read_text())
    parse_us = per_item_us(S3ObjectCreated.model_validate, [sample] * args.events, args.rounds)

    spolicy = StoragePolicy()
    objects = storage_inputs(args.events)
    outcomes = Counter(storage.decide(o, b, spolicy, ACCOUNT, REGION).action for o, b in objects)
    storage_us = per_item_us(lambda ob: storage.decide(ob[0], ob[1], spolicy, ACCOUNT, REGION), objects, args.rounds)

    tpolicy = TrainingPolicy()
    now = datetime.now(UTC)
    jobs = training_inputs(args.training_events, now)
    t_outcomes = Counter(training.decide(j, h, tpolicy, now, p).action for j, h, p in jobs)
    training_us = per_item_us(lambda jhp: training.decide(jhp[0], jhp[1], tpolicy, now, jhp[2]), jobs, args.rounds)

    print(f"per-event decision time, no AWS calls (median of {args.rounds} passes)")
    print(f"  {'baseline: S3ObjectCreated.model_validate':<44} {parse_us:8.2f} us/event   1.00x   "
          f"({args.events} x events/s3-object-created.json)")
    print(f"  {'storage.decide':<44} {storage_us:8.2f} us/event  {storage_us / parse_us:5.2f}x   "
          f"({args.events} objects: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + ")")
    print(f"  {'training.decide':<44} {training_us:8.2f} us/event  {training_us / parse_us:5.2f}x   "
          f"({args.training_events} jobs: " + ", ".join(f"{k} {v}" for k, v in sorted(t_outcomes.items())) + ")")
    print(f"  -> storage: {1e6 / storage_us:,.0f} decisions/s on one core; training: {1e6 / training_us:,.0f}/s")


if __name__ == "__main__":
    main()
