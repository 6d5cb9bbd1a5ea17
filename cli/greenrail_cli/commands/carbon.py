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
    parser.add_argument("--region", help="AWS region, e.g. eu-west-1 (optional with --compare-regions)")
    parser.add_argument("--cpu-util", type=float, default=None, help="average CPU utilization, 0..1")
    parser.add_argument("--gpu-util", type=float, default=None, help="average GPU utilization, 0..1")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default): for people; json: one JSON object")
    parser.add_argument("--compare-regions", action="store_true",
                        help="the same job in every region that offers the instance type, lowest emissions first")
    parser.add_argument("--residency", type=str.upper, choices=("EU", "US", "APAC"),
                        help="with --compare-regions: only that residency group's regions")
    parser.set_defaults(func=run)


def _table(record: dict[str, Any], notes: list[str]) -> str:
    from greenrail_cli.output import significant  # plain decimals: never 3.809e-05

    rows = [
        ("energy", f"{significant(record['kwh'], 6)} kWh"),
        ("emissions", f"{significant(record['kgco2e'], 6)} kgCO2e"),
        ("  operational", f"{significant(record['operational_kgco2e'], 6)} kgCO2e"),
        ("  embodied", f"{significant(record['embodied_kgco2e'], 6)} kgCO2e"),
        ("PUE", f"{record['pue']}"),
        ("grid factor", f"{significant(record['grid_kgco2e_per_kwh'], 6)} kgCO2e/kWh"),
        ("method", record["method"]),
        ("estimated", "yes" if record["estimated"] else "no"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {value}" for label, value in rows]
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


def _assumed(args: argparse.Namespace) -> tuple[list[str], bool]:
    """Notes for the utilizations not given, as the carbon policy words them; any means estimated."""
    import greenrail.carbon as carbon

    default = carbon.default_utilization()
    notes = [f"{name} utilization not given: assumed {default:g}"
             for name, value in (("CPU", args.cpu_util), ("GPU", args.gpu_util)) if value is None]
    if args.gpu_util is None and not carbon.instance_spec(args.instance_type).gpu_count:
        notes = notes[:1]
    return notes, bool(notes)


def _compare(args: argparse.Namespace) -> int:
    import greenrail.carbon as carbon
    from greenrail_cli.output import significant  # plain decimals: never 3.809e-05

    if args.region:
        carbon.check_region(args.region)
    comparison = carbon.compare_regions(args.instance_type, args.hours, count=args.count, cpu_util=args.cpu_util,
                                        gpu_util=args.gpu_util, residency=args.residency)
    assumed, estimated = _assumed(args)
    default = carbon.default_utilization()
    inputs = {
        "instance_type": comparison.instance_type, "count": args.count, "hours": args.hours,
        "cpu_util": default if args.cpu_util is None else args.cpu_util,
        "gpu_util": default if args.gpu_util is None else args.gpu_util,
        "utilization_assumed": estimated, "residency": comparison.residency, "region": args.region,
        "offered": comparison.offered_basis, "method": carbon.method(),
    }
    rows = [{**line.as_dict(), "estimated": line.estimated or estimated} for line in comparison.regions]
    notes = assumed + comparison.notes
    if args.format == "json":
        print(json.dumps({"inputs": inputs, "regions": rows}))
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return 0
    util = "" if not estimated else " (assumed: estimated)"
    header = [
        ("instance type", f"{comparison.instance_type} x {args.count}"),
        ("hours", f"{args.hours:g} each"),
        ("cpu util", f"{inputs['cpu_util']:g}" + ("" if args.cpu_util is not None else util)),
        ("gpu util", f"{inputs['gpu_util']:g}" + ("" if args.gpu_util is not None else util)),
        ("residency", comparison.residency or "any"),
        ("offered in", {"listed": "regions listed for the family", "policy": "policy's list",
                        "assumed": "every commercial region (assumed)"}[comparison.offered_basis]),
        ("method", inputs["method"]),
    ]
    width = max(len(label) for label, _ in header)
    lines = [f"{label.ljust(width)}  {value}" for label, value in header]
    lines.append("")
    lines.append(f"{'region':<16} {'country':<7} {'kWh':>10} {'kgCO2e':>10} {'kgCO2e/kWh':>10}  estimated")
    for row in rows:
        here = "  <- --region" if row["region"] == args.region else ""
        grid = {"region": "", "country": " (country's factor)", "average": " (CCF average)"}[row["grid_basis"]]
        lines.append(f"{row['region']:<16} {row['country'] or '?':<7} {significant(row['kwh']):>10} "
                     f"{significant(row['kgco2e']):>10} {significant(row['grid_kgco2e_per_kwh']):>10}  {'yes' if row['estimated'] else 'no'}{grid}{here}")
    if not rows:
        lines.append("(no region offers this instance type within the residency group)")
    lines += [f"note: {note}" for note in notes]
    print("\n".join(lines))
    return 0


def run(args: argparse.Namespace) -> int:
    import greenrail.carbon as carbon

    if args.residency and not args.compare_regions:
        print("greenrail carbon: error: --residency needs --compare-regions", file=sys.stderr)
        return EXIT_USAGE
    if not args.compare_regions and not args.region:
        print("greenrail carbon: error: --region is required (or use --compare-regions)", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.compare_regions:
            return _compare(args)
        carbon.check_region(args.region)  # a typo is an error; a real region without a grid factor is not
        result = carbon.estimate(
            args.instance_type,
            hours=args.hours,
            region=args.region,
            count=args.count,
            cpu_util=args.cpu_util,
            gpu_util=args.gpu_util,
        )
    except ValueError as exc:  # UnknownInstanceType, UnknownRegion and UnknownResidency are ValueErrors too
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
