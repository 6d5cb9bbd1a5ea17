"""``make bench``: every Greenrail benchmark, one after the other, each with its own baseline.

Benchmarks are not tests: they print figures and ratios against a baseline measured in the same
run, and never fail on a timing. A script that fails is reported and the others still run; the
exit status is non-zero when one failed.

1. cold-start imports of each handler vs ``import boto3``       (bench/cold_start.py)
2. per-event decision time vs parsing the sample S3 event        (bench/decide_per_event.py)
3. cost of governing one training job-hour                       (bench/training_watch_cost.py)
4. Greenrail scan vs Cloud Custodian on the same moto estate      (bench/scan_vs_custodian.py)
   the endpoints scan vs Custodian's sagemaker-endpoint policy     (bench/endpoints_scan.py)
5. greenrail report on one million decisions vs json.loads        (bench/report_scale.py)
6. decide throughput on 10^6 S3 Inventory rows, projected cost   (bench/inventory_decide.py)

Usage: python bench/run.py [--jobs 200] [--repeat 3] [--only cold_start,decide_per_event,...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="training jobs in the scan-vs-Custodian estate")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command in the scan comparison")
    parser.add_argument("--only", default="", help="comma-separated script names to run")
    args = parser.parse_args()

    scripts: list[tuple[str, list[str]]] = [
        ("cold_start", ["--repeat", "5"]),
        ("decide_per_event", []),
        ("training_watch_cost", []),
        ("scan_vs_custodian", ["--jobs", str(args.jobs), "--repeat", str(args.repeat)]),
        ("endpoints_scan", ["--endpoints", str(args.jobs), "--repeat", str(args.repeat)]),
        ("report_scale", []),
        ("inventory_decide", []),
    ]
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    failed = []
    for number, (name, extra) in enumerate(scripts, 1):
        if wanted and name not in wanted:
            continue
        print(f"\n== {number}. bench/{name}.py {' '.join(extra)}".rstrip(), flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *extra], cwd=ROOT)
        took = time.perf_counter() - start
        if done.returncode != 0:
            failed.append(name)
            print(f"   ({name} FAILED with exit status {done.returncode} after {took:.0f} s)", flush=True)
        else:
            print(f"   ({took:.0f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
