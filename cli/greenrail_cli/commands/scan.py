"""``greenrail scan``: evaluate the live estate on demand (dry-run unless told otherwise).

Talks to whatever endpoint boto3 resolves: AWS with the usual credentials, or an emulator
through ``AWS_ENDPOINT_URL``. ``--format json`` prints one decision per line. The table fits the
terminal; on a terminal, a scan that takes more than a second shows its progress on stderr.

Each policy is scanned on its own: one that fails is reported on stderr with its AWS error code
and the others' decisions are still printed. Exit status: 0 when every policy was scanned, 1 when
one failed, AWS could not be reached or the policy document is invalid, 2 for usage errors (an
unknown policy or region).

In enforce mode the decisions are put on Greenrail's bus (the deployed stack's DecisionBusName
output, or --bus), so they are notified, audited and logged like every other decision, and
actions count in the deployed blast radius (its state table); without a deployment the decisions
are local only, and the scan says so once. --accounts or --org with --regions scans many
accounts (through the member role) and regions, a few at a time.
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
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default): columns for people; json: one JSON object a line")
    from greenrail_cli.fleet import DEFAULT_CONCURRENCY, DEFAULT_MEMBER_ROLE, DEFAULT_STACK

    parser.add_argument("--stack", default=DEFAULT_STACK,
                        help=f"the deployed Greenrail stack whose bus and state table enforce mode uses "
                             f"(default: {DEFAULT_STACK})")
    parser.add_argument("--bus", help="Greenrail's event bus to publish enforce-mode decisions on (default: the "
                                      "stack's DecisionBusName output)")
    accounts = parser.add_mutually_exclusive_group()
    accounts.add_argument("--accounts", metavar="ID,...", help="scan these accounts through their member role")
    accounts.add_argument("--org", action="store_true",
                          help="scan every ACTIVE account of the Organization through its member role")
    parser.add_argument("--regions", metavar="REGION,...",
                        help="scan these regions (default: AWS_REGION, else AWS_DEFAULT_REGION)")
    parser.add_argument("--member-role", metavar="NAME",
                        help=f"the role assumed in other accounts (default: GREENRAIL_MEMBER_ROLE_NAME, "
                             f"else {DEFAULT_MEMBER_ROLE})")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                        help=f"accounts and regions scanned at a time (default: {DEFAULT_CONCURRENCY})")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="also write DIR/decisions.jsonl (every decision, JSON lines) and DIR/report.html")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    from greenrail.decision import Mode
    from greenrail.document import PolicyDocument, PolicyError, load_policy_file
    from greenrail.flows.scan import scannable
    from greenrail.settings import settings
    from greenrail_cli import fleet, output

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
    planned = plan_targets(args)
    if isinstance(planned, tuple):  # (exit code, message)
        print(planned[1], file=sys.stderr)
        return planned[0]
    deployment, problem = enforce_deployment(args) if mode == Mode.ENFORCE else (None, None)
    if problem:  # before acting: what is done must be announced
        print(problem, file=sys.stderr)
        return 1
    member_role = args.member_role or settings().member_role_name or fleet.DEFAULT_MEMBER_ROLE
    with output.Progress("greenrail scan") as progress:  # on stderr, when it is a terminal
        decisions, failures = fleet.scan_all(planned, wanted, document, mode, args.concurrency, deployment,
                                             member_role, progress)
    shown = [d for d in decisions if args.all or d.action != "none"]
    if args.format == "json":
        for decision in shown:
            print(json.dumps(decision.scan_line(), sort_keys=False))
    elif decisions or not failures:  # an empty table under an error says nothing
        print(render_table(shown, len(decisions), where=len(planned) > 1, width=output.terminal_width()))
    if args.output_dir:
        failures += write_output_dir(decisions, args.output_dir)
    for failure in failures:  # after the results, so they are the last lines a terminal shows
        print(failure, file=sys.stderr)
    return 1 if failures else 0


def write_output_dir(decisions: list[Any], directory: str) -> list[str]:
    """Write the decisions and their report into ``directory``; the failure, if any, as a line."""
    from greenrail.settings import settings
    from greenrail_cli.report import write_outputs

    regions = sorted({d.region for d in decisions}) or [settings().region]
    accounts = sorted({d.account for d in decisions})
    where = f"{len(accounts)} accounts, " if len(accounts) > 1 else ""
    try:
        log, page = write_outputs(decisions, directory, f"greenrail scan of {where}region{'s' if len(regions) > 1 else ''} "
                                                       f"{', '.join(regions)}")
    except OSError as exc:
        return [f"greenrail scan: cannot write {directory}: {exc.strerror or exc}"]
    print(f"wrote {log} and {page}", file=sys.stderr)
    return []


def enforce_deployment(args: Any) -> tuple[Any, str | None]:
    """(the deployment enforce mode publishes to, or None; the error line that stops the scan, or None).
    Without a deployment the scan says once that its decisions are local only."""
    from greenrail.aws import error_code
    from greenrail.settings import settings
    from greenrail_cli import fleet

    try:
        deployment = fleet.find_deployment(args.stack, args.bus)
    except fleet.DeploymentError as exc:
        return None, f"greenrail scan: {exc}"
    except Exception as exc:
        return None, f"greenrail scan: {cannot_reach(exc) or f'{error_code(exc)}: {one_line(exc)}'}"
    if deployment is None:
        print(f"greenrail scan: no Greenrail deployment (stack {args.stack} in {settings().region}; name its bus "
              "with --bus): these decisions are local only, not notified, audited or logged, and the blast "
              "radius counts this run only", file=sys.stderr)
    return deployment, None


def plan_targets(args: Any) -> Any:
    """The accounts and regions to scan (``greenrail_cli.fleet.Target``), or (exit code, message)."""
    from greenrail.aws import error_code
    from greenrail.carbon import UnknownRegion
    from greenrail.carbon import check_region as check
    from greenrail.settings import settings
    from greenrail_cli import fleet

    regions = [r.strip() for r in (args.regions or settings().region).split(",") if r.strip()]
    for name in regions:
        try:
            check(name)
        except UnknownRegion as exc:
            return 2, f"greenrail scan: --regions: {exc}"
    if args.concurrency < 1:
        return 2, "greenrail scan: --concurrency must be at least 1"
    accounts = None
    if args.accounts:
        accounts = [a.strip() for a in args.accounts.split(",") if a.strip()]
        bad = [a for a in accounts if not (len(a) == 12 and a.isdigit())]
        if bad or not accounts:
            return 2, f"greenrail scan: --accounts: not twelve-digit account ids: {', '.join(bad) or 'none given'}"
    elif args.org:
        try:
            accounts = fleet.organization_accounts()
        except Exception as exc:
            return 1, (f"greenrail scan: --org: cannot list the Organization's accounts: {error_code(exc)} "
                       "(run from the management account or a delegated administrator)")
    return fleet.targets(list(dict.fromkeys(accounts)) if accounts else None, list(dict.fromkeys(regions)))


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


def render_table(decisions: list[Any], evaluated: int, where: bool = False, width: int | None = None) -> str:
    """``where``: the account and region of each decision first (scans of many accounts or regions).
    ``width``: the terminal's (``greenrail_cli.output.terminal_width``); long resources and reasons
    are shortened to fit. OUTCOME is the report's (applied, dry-run, held back, error, ...); savings
    carry their unit (``/month`` or ``one-off``); a carbon record shows its energy and emissions."""
    from greenrail_cli import output
    from greenrail_cli.report.aggregate import outcome_of

    header = ["POLICY", "ACTION", "OUTCOME", "SAVINGS", "CARBON", "RESOURCE", "REASON"]
    rows = [[d.policy, d.action, outcome_of(d), output.savings(d), output.carbon(d), d.resource, d.reason]
            for d in decisions]
    if where:
        header = ["ACCOUNT", "REGION", *header]
        rows = [[d.account, d.region, *row] for d, row in zip(decisions, rows, strict=True)]
    # too narrow for every column: the account, region, resource and reason go under their row
    lines = output.table(header, rows, width, truncate=("ACCOUNT", "REGION", "RESOURCE"), wrap=("REASON",),
                         squeeze=("ACTION", "SAVINGS", "CARBON"))
    lines.append(f"{evaluated} resource(s) evaluated, {sum(1 for d in decisions if d.action != 'none')} need action; "
                 + output.totals(decisions))
    return "\n".join(lines)
