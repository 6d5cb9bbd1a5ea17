"""``greenrail scan`` like the deployed system, and over many accounts and regions.

* :func:`find_deployment`: Greenrail's bus and state table, from the deployed stack's outputs
  (``DescribeStacks``) or ``--bus``; a bus that does not exist is one clear error.
* :func:`deployed`: within the block, decisions go on that bus and actions count in that state
  table's blast radius (GREENRAIL_BUS_NAME, GREENRAIL_STATE_TABLE), as in the functions.
* :func:`scan_targets`: every (account, region) target, ``concurrency`` at a time, each through
  the member role (``greenrail.aws.acting_in``) and in its region (``greenrail.aws.in_region``),
  like ``c7n-org``: one account that cannot be reached is reported and the others go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

DEFAULT_STACK = "greenrail"  # samconfig.toml's stack_name
DEFAULT_MEMBER_ROLE = "GreenrailExecution"  # org/member-account.yaml's ExecutionRoleName default
DEFAULT_CONCURRENCY = 8


class DeploymentError(Exception):
    """The named bus does not exist (or cannot be read): nothing may be acted on."""


@dataclass(frozen=True)
class Deployment:
    bus: str
    state_table: str | None
    source: str  # where the bus was found: "stack <name>" or "--bus"


@dataclass(frozen=True)
class Target:
    account: str | None  # None: the caller's own account
    region: str


@dataclass
class TargetScan:
    target: Target
    decisions: list[Any] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    unreachable: bool = False  # AWS could not be reached at all: the caller stops


# ---------------------------------------------------------------- the deployment
def _stack_outputs(stack: str) -> dict[str, str] | None:
    """The outputs of ``stack`` in this region, or None when there is no such stack."""
    from greenrail.aws import client, error_code

    try:
        response = client("cloudformation").describe_stacks(StackName=stack)
    except Exception as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    outputs = response["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


def _check_bus(name: str, source: str) -> None:
    from greenrail.aws import client, error_code
    from greenrail.settings import settings

    try:
        client("events").describe_event_bus(Name=name)
    except Exception as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise DeploymentError(f"event bus {name!r} ({source}) does not exist in {settings().region}: "
                                  "nothing was scanned or changed") from exc
        raise DeploymentError(f"event bus {name!r} ({source}) cannot be read: {code}: nothing was scanned "
                              "or changed") from exc


def find_deployment(stack: str, bus: str | None = None) -> Deployment | None:
    """Greenrail's bus (``bus``, else the stack's ``DecisionBusName`` output) and state table, or
    None when there is neither a stack nor ``bus``. Raises DeploymentError when the bus is missing."""
    from greenrail.aws import error_code

    try:
        outputs = _stack_outputs(stack) or {}
    except Exception as exc:  # no cloudformation:DescribeStacks: --bus still works
        if bus is None:
            raise DeploymentError(f"cannot read stack {stack!r}: {error_code(exc)} (name the bus with --bus)") from exc
        outputs = {}
    name = bus or outputs.get("DecisionBusName")
    if not name:
        return None
    source = "--bus" if bus else f"stack {stack}"
    _check_bus(name, source)
    return Deployment(bus=name, state_table=outputs.get("StateTableName") or None, source=source)


@contextmanager
def deployed(deployment: Deployment | None, member_role: str | None) -> Iterator[None]:
    """Decisions published on the deployment's bus, actions counted in its state table, member
    accounts reached through ``member_role``: the variables the functions get from template.yaml."""
    from greenrail_cli.environ import variables

    wanted = {"GREENRAIL_MEMBER_ROLE_NAME": member_role or ""}
    if deployment is not None:
        wanted["GREENRAIL_BUS_NAME"] = deployment.bus
        wanted["GREENRAIL_STATE_TABLE"] = deployment.state_table or ""
    with variables(wanted):
        yield


def publish(decisions: list[Any]) -> list[str]:
    """Put the decisions that want something done on the bus; the failure, if any, as a line."""
    from greenrail import bus
    from greenrail.aws import error_code

    announced = [d for d in decisions if d.action != "none"]
    if not announced:
        return []
    try:
        bus.publish(announced)
    except bus.PublishError as exc:
        return [f"greenrail scan: {exc}"]
    except Exception as exc:
        return [f"greenrail scan: decisions not published on {bus.bus_name()}: {error_code(exc)}"]
    return []


# ---------------------------------------------------------------- accounts and regions
def targets(accounts: list[str] | None, regions: list[str]) -> list[Target]:
    """Every account (None: the caller's own) in every region, accounts first."""
    each: list[str | None] = list(accounts) if accounts else [None]
    return [Target(account, region) for account in each for region in regions]


def organization_accounts() -> list[str]:
    from greenrail.adapters import organizations

    return organizations.active_accounts()


def policies_for(target: Target, wanted: list[str], first_region: str, own: str | None) -> list[str]:
    """The policies to scan in ``target``: a policy that never acts in member accounts (its triggers
    run in Greenrail's account only) is scanned in the caller's own account only; storage lists
    every bucket of an account whatever the region, so it is scanned in the first region only."""
    from greenrail.registry import get

    names = []
    for name in wanted:
        member = any(t.member for t in get(name).triggers)
        if not member and target.account not in (None, own):
            continue
        if name == "storage" and target.region != first_region:
            continue
        names.append(name)
    return names


def scan_policies(names: list[str], document: Any, mode: Any, progress: Any = None, where: str = "") -> Iterator[Any]:
    """``greenrail.flows.scan.scan_each``, one policy at a time so that ``progress``
    (``greenrail_cli.output.Progress``) can say which policy is being scanned, and where."""
    from greenrail.flows.scan import scan_each, scannable

    wanted = set(names)
    for name in [n for n in scannable() if n in wanted]:
        if progress is not None:
            progress.start(f"{name} in {where}" if where else name)
        yield from scan_each([name], document, mode)
        if progress is not None:
            progress.step()


def scan_target(target: Target, names: list[str], document: Any, mode: Any, progress: Any = None) -> TargetScan:
    """One account and region: its policies' decisions, or the lines saying what failed."""
    from greenrail.aws import acting_in, client, error_code, in_region, member_role_arn
    from greenrail_cli.commands.scan import cannot_reach, one_line

    result = TargetScan(target)
    where = f"account {target.account}, {target.region}" if target.account else target.region
    with acting_in(target.account), in_region(target.region):
        role = member_role_arn(target.account) if target.account else None
        if role:
            try:
                client("s3")  # assumes the member role (the clients of the account are built with it)
            except Exception as exc:
                unreachable = cannot_reach(exc)
                result.unreachable = unreachable is not None
                result.failures.append(f"greenrail scan: {where}: "
                                       f"{unreachable or f'cannot assume {role}: {error_code(exc)}'}")
                return result
        for scanned in scan_policies(names, document, mode, progress, where):
            if scanned.error is None:
                result.decisions.extend(_labelled(d, target) for d in scanned.decisions)
                continue
            unreachable = cannot_reach(scanned.error)
            if unreachable:
                result.unreachable = True
                result.failures.append(f"greenrail scan: {unreachable}")
                break
            result.failures.append(f"greenrail scan: {where}: policy {scanned.policy} failed: "
                                   f"{error_code(scanned.error)}: {one_line(scanned.error)}")
    return result


def _labelled(decision: Any, target: Target) -> Any:
    """A decision made while acting in a member account concerns that account's resources: one a
    policy labelled with the caller's own account (``account_id()``) gets the target's."""
    from greenrail.aws import account_id

    if target.account and decision.account != target.account and decision.account == account_id():
        return decision.model_copy(update={"account": target.account})
    return decision


def scan_targets(all_targets: list[Target], wanted: list[str], document: Any, mode: Any,
                 concurrency: int = DEFAULT_CONCURRENCY, progress: Any = None) -> Iterator[TargetScan]:
    """Every target, ``concurrency`` at a time; each result as soon as it and those before it are done."""
    from greenrail.aws import account_id

    own = account_id() if any(t.account for t in all_targets) else None
    first_region = all_targets[0].region if all_targets else ""
    work = [(t, policies_for(t, wanted, first_region, own)) for t in all_targets]
    work = [(t, names) for t, names in work if names]
    if progress is not None:
        progress.expect(sum(len(names) for _, names in work))
    if len(work) <= 1 or concurrency <= 1:
        for target, names in work:
            yield scan_target(target, names, document, mode, progress)
        return
    with ThreadPoolExecutor(max_workers=min(concurrency, len(work)), thread_name_prefix="greenrail-scan") as pool:
        futures = [pool.submit(scan_target, target, names, document, mode, progress) for target, names in work]
        try:
            for future in futures:
                yield future.result()
        finally:  # the caller stopped (AWS cannot be reached): targets not started yet never start
            for future in futures:
                future.cancel()


def scan_all(all_targets: list[Target], wanted: list[str], document: Any, mode: Any, concurrency: int,
             deployment: Deployment | None, member_role: str, progress: Any = None) -> tuple[list[Any], list[str]]:
    """(every decision, the failure lines): with a deployment, each target's decisions are put on
    its bus as soon as that target is scanned (after its actions, as the functions announce)."""
    decisions: list[Any] = []
    failures: list[str] = []
    with deployed(deployment, member_role):
        for result in scan_targets(all_targets, wanted, document, mode, concurrency, progress):
            decisions.extend(result.decisions)
            failures.extend(result.failures)
            if deployment is not None:
                failures += publish(result.decisions)
            if result.unreachable:  # every other target would wait as long for the same endpoint
                break
    return decisions, failures
