"""``greenrail scan``: evaluate the live estate on demand (dry-run unless told otherwise).

Talks to whatever endpoint boto3 resolves: AWS with the usual credentials, or an emulator
through ``AWS_ENDPOINT_URL``. ``--format json`` prints one decision per line.

Each policy is scanned on its own: one that fails is reported on stderr with its AWS error code
and the others' decisions are still printed. Exit status: 0 when every policy was scanned, 1 when
one failed, AWS could not be reached or the policy document is invalid, 2 for usage errors (an
unknown policy or region).
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
    from greenrail.aws import error_code
    from greenrail.decision import Mode
    from greenrail.document import PolicyDocument, PolicyError, load_policy_file
    from greenrail.flows.scan import scan_each, scannable

    known = scannable()
    wanted = [name.strip() for name in args.policies.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        print(f"unknown policies: {', '.join(unknown)} (choose from {', '.join(known)})", file=sys.stderr)
        return 2
    region_problem = check_region()
    if region_problem:  # before any call: a misspelt region answers with DNS errors or HTML pages
        print(region_problem, file=sys.stderr)
        return 2
    try:
        document = load_policy_file(args.policy) if args.policy else PolicyDocument()
    except PolicyError as exc:  # the same lines and exit code as `greenrail validate`
        print("\n".join(exc.lines()), file=sys.stderr)
        return 1
    mode = Mode(args.mode)
    decisions: list[Any] = []
    failures: list[str] = []
    for result in scan_each(wanted, document, mode):
        if result.error is None:
            decisions.extend(result.decisions)
            continue
        unreachable = cannot_reach(result.error)
        if unreachable:  # every other policy would wait as long for the same endpoint: stop here
            failures.append(f"greenrail scan: {unreachable}")
            break
        failures.append(f"greenrail scan: policy {result.policy} failed: {error_code(result.error)}: "
                        f"{one_line(result.error)}")
    shown = [d for d in decisions if args.all or d.action != "none"]
    if args.format == "json":
        for decision in shown:
            print(json.dumps(decision.scan_line(), sort_keys=False))
    elif decisions or not failures:  # an empty table under an error says nothing
        print(render_table(shown, len(decisions)))
    for failure in failures:  # after the results, so they are the last lines a terminal shows
        print(failure, file=sys.stderr)
    return 1 if failures else 0


def check_region() -> str | None:
    """The one-line error for a region AWS does not know (AWS_REGION, else AWS_DEFAULT_REGION), or None."""
    import os

    from greenrail.carbon import UnknownRegion
    from greenrail.carbon import check_region as check
    from greenrail.settings import settings

    try:
        check(settings().region)
    except UnknownRegion as exc:
        source = "AWS_REGION" if os.environ.get("AWS_REGION") else "AWS_DEFAULT_REGION"
        return f"greenrail scan: {source}: {exc}"
    return None


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def cannot_reach(exc: BaseException) -> str | None:
    """``cannot reach AWS at <endpoint>: <why>`` for a connection-level error (a timeout, a refused
    connection, a name that does not resolve), else None."""
    from urllib.parse import urlsplit

    from botocore import exceptions as boto

    from greenrail.settings import settings

    error: BaseException | None = exc
    while error is not None and not isinstance(error, boto.ConnectionError | boto.HTTPClientError):
        error = error.__cause__ or error.__context__
    if error is None:
        return None
    kwargs = getattr(error, "kwargs", {})
    url = urlsplit(str(kwargs.get("endpoint_url") or ""))
    endpoint = f"{url.scheme}://{url.netloc}" if url.netloc else "the endpoint"
    config = settings()
    if isinstance(error, boto.ReadTimeoutError):
        why = f"read timeout after {config.aws_read_timeout or 60:g} s"
    elif isinstance(error, boto.ConnectTimeoutError):
        why = f"connect timeout after {config.aws_connect_timeout or 60:g} s"
    elif isinstance(error, boto.ConnectionClosedError):
        why = "connection closed without an answer"
    else:
        why = _os_reason(kwargs.get("error")) or one_line(error)
    return f"cannot reach AWS at {endpoint}: {why}"


def _os_reason(error: BaseException | None) -> str | None:
    """The operating system's reason under urllib3's wrapping (``connection refused``)."""
    while error is not None:
        if isinstance(error, OSError) and error.strerror:
            return error.strerror[:1].lower() + error.strerror[1:]
        error = error.__cause__ or error.__context__
    return None


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
