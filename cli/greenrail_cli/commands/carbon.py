"""``greenrail carbon``: energy and emissions of SageMaker instances, from the one carbon model."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "carbon",
        help="estimate energy (kWh) and emissions (kgCO2e) of SageMaker instances",
        description=(
            "Estimate energy and emissions with Cloud Carbon Footprint's method for AWS. "
            "Utilizations are fractions 0..1 (default 0.5, CCF's average)."
        ),
    )
    parser.add_argument(
        "--instance-type", required=True, help="e.g. ml.p3.2xlarge (the ml. prefix is optional)"
    )
    parser.add_argument("--count", type=int, default=1, help="number of instances (default 1)")
    parser.add_argument("--hours", type=float, required=True, help="hours each instance runs")
    parser.add_argument("--region", required=True, help="AWS region, e.g. eu-west-1")
    parser.add_argument("--cpu-util", type=float, default=None, help="average CPU utilization, 0..1")
    parser.add_argument("--gpu-util", type=float, default=None, help="average GPU utilization, 0..1")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)


def _table(record: dict[str, Any], notes: list[str]) -> str:
    rows = [
        ("energy", f"{record['kwh']:.6g} kWh"),
        ("emissions", f"{record['kgco2e']:.6g} kgCO2e"),
        ("  operational", f"{record['operational_kgco2e']:.6g} kgCO2e"),
        ("  embodied", f"{record['embodied_kgco2e']:.6g} kgCO2e"),
        ("PUE", f"{record['pue']}"),
        ("grid factor", f"{record['grid_kgco2e_per_kwh']:.6g} kgCO2e/kWh"),
        ("method", record["method"]),
        ("estimated", "yes" if record["estimated"] else "no"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {value}" for label, value in rows]
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import greenrail.carbon as carbon

    try:
        carbon.check_region(args.region)  # a typo is an error; a real region without a grid factor is not
        result = carbon.estimate(
            args.instance_type,
            hours=args.hours,
            region=args.region,
            count=args.count,
            cpu_util=args.cpu_util,
            gpu_util=args.gpu_util,
        )
    except ValueError as exc:  # UnknownInstanceType and UnknownRegion are ValueErrors too
        print(f"greenrail carbon: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    record = result.as_dict()
    if args.format == "json":
        print(json.dumps(record))
        for note in result.notes:  # notes are not part of the JSON contract: keep stdout parseable
            print(f"note: {note}", file=sys.stderr)
    else:
        print(_table(record, result.notes))
    return 0
