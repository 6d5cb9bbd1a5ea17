"""greenrail report: one self-contained HTML page of what Greenrail decided and saved.

Reads the decision log (--from s3://bucket/prefix: every object under the prefix, gzip-compressed
or not), a saved scan (--from decisions.jsonl, as written by scan --output-dir), or, without --from,
scans the estate now in dry-run. Each line is a decision or an EventBridge event carrying one;
malformed lines are skipped, counted and named in the report. Exit status: 0 when the report was
written, 1 when the source cannot be read, 2 for usage errors (an unknown policy).
"""

from __future__ import annotations

import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("report", help="write an HTML report of decisions and savings",
                                   description=__doc__)
    parser.add_argument("--from", dest="source", metavar="SOURCE",
                        help="s3://bucket/prefix (the decision log) or a JSON-lines file; "
                             "default: a dry-run scan of the estate now")
    parser.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    parser.add_argument("--policy", help="policy document (YAML) for the live scan; default: every policy's defaults")
    parser.add_argument("--policies", help="comma-separated policies the live scan evaluates (default: all that scan)")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    from greenrail_cli.report import from_decisions, from_lines, write_html
    from greenrail_cli.report.sources import SourceError, lines

    if args.source:
        try:
            data = from_lines(lines(args.source), args.source)
        except SourceError as exc:
            print(f"greenrail report: {exc}", file=sys.stderr)
            return 1
    else:
        decisions, failures = live_scan(args.policy, args.policies)
        if decisions is None:
            print("\n".join(failures), file=sys.stderr)
            return 2 if failures and failures[0].startswith("greenrail report: unknown policies") else 1
        data = from_decisions(decisions, "a dry-run scan of " + describe_estate())
        for failure in failures:
            print(failure, file=sys.stderr)
    try:
        path = write_html(data, args.out)
    except OSError as exc:
        print(f"greenrail report: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    malformed = data["malformed"]["count"]
    print(f"{path}: {data['decisions']} decision(s)" + (f", {malformed} malformed line(s) skipped" if malformed else ""))
    return 0


def live_scan(policy_file: str | None, policies: str | None = None) -> tuple[list[Any] | None, list[str]]:
    """The policies' decisions (every scannable one by default), in dry-run, and the failures (None:
    nothing could be scanned)."""
    from greenrail.aws import error_code
    from greenrail.decision import Mode
    from greenrail.document import PolicyDocument, PolicyError, load_policy_file
    from greenrail.flows.scan import scannable
    from greenrail_cli import output
    from greenrail_cli.commands.scan import cannot_reach, one_line
    from greenrail_cli.fleet import scan_policies

    known = scannable()
    wanted = [name.strip() for name in (policies or ",".join(known)).split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        return None, [f"greenrail report: unknown policies: {', '.join(unknown)} (choose from {', '.join(known)})"]
    try:
        document = load_policy_file(policy_file) if policy_file else PolicyDocument()
    except PolicyError as exc:
        return None, exc.lines()
    decisions: list[Any] = []
    failures: list[str] = []
    with output.Progress("greenrail report") as progress:  # on stderr, when it is a terminal, as scan's
        progress.expect(len(set(wanted)))
        for result in scan_policies(wanted, document, Mode.DRY_RUN, progress):
            if result.error is None:
                decisions.extend(result.decisions)
                continue
            unreachable = cannot_reach(result.error)
            if unreachable:
                return None, [f"greenrail report: {unreachable}"]
            failures.append(f"greenrail report: policy {result.policy} failed: {error_code(result.error)}: "
                            f"{one_line(result.error)}")
    return decisions, failures


def describe_estate() -> str:
    from greenrail.settings import settings

    return f"region {settings().region}"
