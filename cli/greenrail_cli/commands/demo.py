"""``greenrail demo``: run Greenrail on the embedded emulator and print what it decided and did."""

from __future__ import annotations

import json
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run the whole system locally on the emulator", description=__doc__)
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default): what happened, for people; json: the whole run as one JSON document")
    parser.add_argument("--output-dir", metavar="DIR", default="greenrail-demo",
                        help="where to write the demo's decisions.jsonl and report.html (default: greenrail-demo)")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    import logging

    from greenrail_cli.demo import render, run_demo, write_report

    logging.getLogger("botocore").setLevel(logging.WARNING)
    report = run_demo()
    write_report(report, args.output_dir)
    if args.format == "json":
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render(report))
    return 1 if report["dead_letters"] else 0
