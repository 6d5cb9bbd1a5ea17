"""``greenrail scan``: evaluate the live estate on demand (dry-run unless told otherwise).

Talks to whatever endpoint boto3 resolves: AWS with the usual credentials, or an emulator
through ``AWS_ENDPOINT_URL``. ``--format json`` prints one decision per line.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    from greenrail.flows.scan import scannable

    names = scannable()
    parser = subparsers.add_parser("scan", help="evaluate existing resources now", description=__doc__)
    parser.add_argument("--policy", help="policy document (YAML); default: every policy's defaults")
    parser.add_argument("--policies", default=",".join(names),
                        help=f"comma-separated policies to evaluate (default: {','.join(names)})")
    parser.add_argument("--mode", choices=("dry-run", "enforce"), default="dry-run",
                        help="dry-run (default) only reports; enforce also acts, within the blast radius")
    parser.add_argument("--all", action="store_true", help="also list resources that need nothing")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    from greenrail.decision import Mode
    from greenrail.document import PolicyDocument, PolicyError, load_policy_file
    from greenrail.flows.scan import scan, scannable

    known = scannable()
    wanted = [name.strip() for name in args.policies.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        print(f"unknown policies: {', '.join(unknown)} (choose from {', '.join(known)})", file=sys.stderr)
        return 2
    try:
        document = load_policy_file(args.policy) if args.policy else PolicyDocument()
    except PolicyError as exc:
        for path, message in exc.errors:
            print(f"{exc.source}: {path}: {message}", file=sys.stderr)
        return 2
    mode = Mode(args.mode)
    try:
        decisions = scan(wanted, document, mode)
    except Exception as exc:  # an AWS error: say which, exit non-zero
        from greenrail.aws import error_code

        print(f"scan failed: {error_code(exc)}: {exc}", file=sys.stderr)
        return 1
    shown = [d for d in decisions if args.all or d.action != "none"]
    if args.format == "json":
        for decision in shown:
            print(json.dumps(decision.scan_line(), sort_keys=False))
    else:
        print(render_table(shown, len(decisions)))
    return 0


def render_table(decisions: list[Any], evaluated: int) -> str:
    rows = [("POLICY", "ACTION", "MODE", "APPLIED", "USD/MO", "KGCO2E/MO", "RESOURCE", "REASON")]
    usd = kg = 0.0
    for d in decisions:
        usd += d.savings.usd_per_month
        kg += d.savings.kgco2e_per_month
        rows.append((d.policy, d.action, d.mode.value, "yes" if d.applied else "no",
                     f"{d.savings.usd_per_month:.4f}", f"{d.savings.kgco2e_per_month:.5f}", d.resource, d.reason))
    widths = [max(len(str(row[i])) for row in rows) for i in range(7)]
    lines = ["  ".join(str(value).ljust(widths[i]) if i < 7 else str(value) for i, value in enumerate(row))
             for row in rows]
    lines.append(f"{evaluated} resource(s) evaluated, {sum(1 for d in decisions if d.action != 'none')} need action; "
                 f"savings ${usd:.2f}/month, {kg:.4f} kgCO2e/month")
    return "\n".join(lines)
