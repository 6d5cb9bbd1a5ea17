"""Every policy's sweep across the Organization: one scheduled Step Functions orchestration
(``statemachines/org_sweep.asl.json``, Organization deployments only).

* :func:`plan`: the Organization's ACTIVE accounts x the configured regions x the policies to
  sweep, written as one JSON array to the results bucket; only its location and counts go back
  into the state's payload (1,000 accounts x 3 regions x 4 policies is ~800 KB of items, over
  Step Functions' 256 KB limit).
* :func:`sweep_item`: one ``{"policy", "account", "region"}`` item of the Distributed Map: the
  registered policy's ``scan`` in that account and region, through the member role only (in
  Greenrail's own account too), its decisions announced on the bus once per resource state, and
  a trimmed summary returned (counts and savings, never the decisions). An account whose role
  cannot be assumed fails its items (:class:`RoleNotAssumable`); the others go on.
* :func:`report`: the Map's ``ResultWriter`` files read back: totals, and ONE decision naming
  every failed account, region and policy and why.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from greenrail import bus
from greenrail.aws import acting_in, error_code, in_region, is_permanent, member_role_arn
from greenrail.decision import Decision, Mode, PolicyName
from greenrail.flows import MapOutput, Once, Publish, ResultLocation, StepError
from greenrail.permissions import calls
from greenrail.settings import settings
from greenrail.validation import AccountId, Region, Utf8Text, is_region

logger = logging.getLogger(__name__)

NAME = "org-sweep"  # the idempotency records' prefix (announcements)
ITEMS_KEY = "org-sweep/{run}/items.json"
RESULTS_PREFIX = "org-sweep/{run}/results"
MAX_FAILURES_NAMED = 100  # in the failure decision's figures (all are in the ResultWriter files)
MAX_ACCOUNTS_IN_REASON = 30  # the reason stays readable, and the decision well inside PutEvents' 256 KB


class RoleNotAssumable(Exception):
    """The account's member role cannot be assumed: nothing was read or changed there."""


class ScanFailed(Exception):
    """The policy's scan of that account and region ended with an error."""


class MalformedSweepInput(ValueError):
    """The Plan step's input (the schedule's) is not a sweep: it fails, and the report names why
    (field names and problems, never values)."""

    def __init__(self, problems: list[dict[str, str]]):
        super().__init__("malformed Organization sweep input: " + "; ".join(
            f"{p.get('field', '-')}: {p.get('problem', '')}" for p in problems))


# ---------------------------------------------------------------- what each policy's scan calls
def _scan_extras() -> dict[str, tuple[str, tuple[Callable[..., Any], ...]]]:
    """Per policy the worker sweeps: the member trigger whose declared calls cover its scan's
    deciding and acting, and the listing calls only the scan makes.

    Not here: storage keeps its own daily sweep (StorageSweepStateMachine), whose S3 Inventory
    path and Batch Operations jobs run from the deploying account and whose listing covers every
    bucket of an account whatever the region; retraining acts in the deploying account only."""
    from greenrail.adapters import endpoints, sagemaker

    return {
        "endpoints": ("EndpointRightsizingFunction", (endpoints.list_endpoints,)),
        "notebooks": ("NotebooksEventFunction", ()),
        "training": ("TrainingEvaluateFunction", (
            sagemaker.search_in_progress_training_jobs, sagemaker.warm_pool_job_names,
            sagemaker.in_progress_processing_job_names, sagemaker.search_in_progress_tuning_jobs)),
    }


def sweepable() -> list[str]:
    """The policies the worker can sweep, in registry order."""
    from greenrail.flows.scan import scannable

    known = _scan_extras()
    return [name for name in scannable() if name in known]


def sweeps_the_organization_itself(name: str) -> bool:
    """The policy has a sweep of its own over the Organization's accounts (a trigger that lists
    them): notebooks every 15 minutes, storage daily. Sweeping it here too would act and announce
    twice, under two sets of idempotency records."""
    from greenrail.adapters import organizations
    from greenrail.registry import get

    return any(t.uses and organizations.active_accounts in t.uses() for t in get(name).triggers)


def default_policies() -> list[str]:
    """Every sweepable policy that acts in member accounts (its triggers' ``member``) and has no
    Organization sweep of its own."""
    from greenrail.registry import get

    return [name for name in sweepable()
            if any(t.member for t in get(name).triggers) and not sweeps_the_organization_itself(name)]


def scan_uses() -> tuple[Callable[..., Any], ...]:
    """The declared calls of every sweepable policy's scan (the member role grants their member side)."""
    from greenrail.registry import get

    found: list[Callable[..., Any]] = []
    for name, (resource, extras) in _scan_extras().items():
        [trigger] = [t for t in get(name).triggers if t.resource == resource]
        found += [*(trigger.uses() if trigger.uses else ()), *extras]
    return tuple(found)


def plan_uses() -> tuple[Callable[..., Any], ...]:
    """OrgSweepFunction: the plan (ListAccounts, the items written) and the report (the results read)."""
    from greenrail import parameters
    from greenrail.adapters import organizations, s3

    return (parameters.read_parameter, organizations.active_accounts, s3.write_object, s3.read_object, bus.publish)


def worker_uses() -> tuple[Callable[..., Any], ...]:
    """OrgSweepWorkerFunction: its own calls, and every sweepable policy's scan (their member side
    is granted by the member role only)."""
    from greenrail import parameters, state
    from greenrail.adapters import stepfunctions

    return (parameters.read_parameter, assume_member_role, state.run_once, bus.publish, stepfunctions.start_execution,
            stepfunctions.execution_running, *scan_uses())


@calls("sts:AssumeRole", central=True)
def assume_member_role() -> None:
    """Assume the member role of the account acted in now (``acting_in``); raises its error
    (``AccessDenied`` when the role is missing or does not trust Greenrail)."""
    from greenrail.aws import client

    client("sagemaker")  # the account's clients are built with the role's credentials


# ---------------------------------------------------------------- plan
class SweepInput(BaseModel):
    """The execution's input (the schedule's): ``{"regions": "a,b", "policies": "x,y"}``, or ``{}``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    regions: str = ""  # comma-separated; empty: the deployment's region
    policies: str = ""  # comma-separated; empty: default_policies()
    max_concurrency: int = Field(default=40, ge=1, le=10_000)  # items swept at a time
    tolerated_failure_percentage: float = Field(default=50.0, ge=0, le=100)  # beyond it, the Map stops

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: str) -> str:
        if not all(is_region(name) for name in _names(value)):
            raise ValueError("not a comma-separated list of regions of the aws, aws-cn or aws-us-gov partition")
        return value

    @field_validator("policies")
    @classmethod
    def _policies(cls, value: str) -> str:
        if set(_names(value)) - set(sweepable()):  # the value is not echoed: it goes to the logs
            raise ValueError(f"names a policy not sweepable across the Organization (choose from {', '.join(sweepable())})")
        return value


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    run: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")  # the execution's name
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    input: SweepInput = Field(default_factory=SweepInput)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    policy: str
    account: AccountId
    region: Region

    @field_validator("policy")
    @classmethod
    def _sweepable(cls, value: str) -> str:
        if value not in sweepable():
            raise ValueError(f"not a policy swept across the Organization (one of {', '.join(sweepable())})")
        return value


def plan_items(accounts: list[str], regions: list[str], policies: list[str]) -> list[dict[str, str]]:
    """account x region x policy, accounts first (one account's items run close together)."""
    return [{"policy": p, "account": a, "region": r} for a in accounts for r in regions for p in policies]


def _names(text: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def plan(request: PlanRequest, document: Any) -> dict[str, Any]:
    """Write the items to ``s3://bucket/org-sweep/<run>/items.json``; return where, and counts."""
    from greenrail.adapters import organizations, s3

    regions = _names(request.input.regions) or [settings().region]  # known regions (SweepInput)
    wanted = _names(request.input.policies) or default_policies()  # sweepable ones (SweepInput)
    policies = [name for name in wanted if getattr(document, name).mode is not Mode.OFF]
    accounts = organizations.active_accounts()
    items = plan_items(accounts, regions, policies)
    key = ITEMS_KEY.format(run=request.run)
    s3.write_object(request.bucket, key, json.dumps(items, separators=(",", ":")).encode())
    return {"items": {"Bucket": request.bucket, "Key": key}, "results_prefix": RESULTS_PREFIX.format(run=request.run),
            "count": len(items), "accounts": len(accounts), "regions": regions, "policies": policies,
            "off": [name for name in wanted if name not in policies],
            "max_concurrency": request.input.max_concurrency,
            "tolerated_failure_percentage": request.input.tolerated_failure_percentage}


# ---------------------------------------------------------------- one item
def _labelled(decision: Decision, account: str) -> Decision:
    """A decision a policy labelled with Greenrail's own account (no ARN to read it from)
    concerns the account acted in."""
    from greenrail.aws import account_id

    if decision.account != account and decision.account == account_id():
        return decision.model_copy(update={"account": account})
    return decision


def watched(decision: Decision) -> bool:
    """A training, processing or tuning job's recommendation that its training watch (started by
    the job's event, in this stack's region) announces itself: the sweep does not announce it a
    second time. A stop the sweep applied is always announced (the watch does not announce a stop
    it did not make). One DescribeExecution per such decision; when it cannot be read, announced."""
    from greenrail.adapters import stepfunctions
    from greenrail.aws import account_id
    from greenrail.flows.watch import execution_name

    machine = settings().training_watch_arn
    if decision.policy != "training" or decision.applied or not machine or decision.region != settings().region:
        return False
    resource = decision.resource.split(":", 5)[-1]  # training-job/<name>, processing-job/..., hyper-parameter-tuning-job/...
    kind = {"processing-job": "processing", "hyper-parameter-tuning-job": "tuning", "training-job": "training"}.get(
        resource.split("/", 1)[0])
    if kind is None or "/" not in resource:
        return False
    foreign = decision.account if decision.account != account_id() else None
    try:
        # the job's own name (the watch's is the event's): SageMaker writes ARNs in lower case
        job = str(decision.figures.get("job_name") or resource.split("/", 1)[1])
        return stepfunctions.execution_running(machine, execution_name(job, foreign, kind))
    except Exception as exc:  # noqa: BLE001 - when in doubt, announce
        logger.warning("cannot tell whether the job is watched: announced", extra={"error": error_code(exc)})
        return False


def announce(decisions: list[Decision], once: Once, publish: Publish) -> int:
    """Put each decision that wants something done on the bus, once per resource state: the same
    recommendation seen by tomorrow's sweep is not announced again (for IDEMPOTENCY_SECONDS), and
    one its job's training watch announces is not announced here (:func:`watched`)."""
    announced: list[Decision] = []
    for decision in decisions:
        if decision.action == "none" or watched(decision):
            continue
        subject = {"policy": decision.policy, "account": decision.account, "region": decision.region,
                   "resource": decision.resource, "action": decision.action, "target": decision.target,
                   "mode": decision.mode.value, "applied": decision.applied, "held_back": decision.held_back,
                   "error": decision.error}

        def work(decision: Decision = decision) -> dict[str, Any]:
            publish([decision])
            announced.append(decision)
            return {"published": True}

        once(subject, work)
    return len(announced)


def summary(item: Item, mode: Mode, decisions: list[Decision], announced: int) -> dict[str, Any]:
    """What the Map keeps of an item: counts and savings, never the decisions (payload limits)."""
    acted = [d for d in decisions if d.action != "none"]
    return {
        "policy": item.policy, "account": item.account, "region": item.region, "mode": mode.value,
        "status": "swept", "evaluated": len(decisions), "actions": len(acted),
        "applied": sum(d.applied for d in acted), "held_back": sum(d.held_back for d in acted),
        "errors": sum(1 for d in decisions if d.error), "announced": announced,
        "usd_per_month": round(sum(d.savings.usd_per_month for d in acted), 2),
        "kgco2e_per_month": round(sum(d.savings.kgco2e_per_month for d in acted), 3),
    }


def hands_to_workflows(item: Item, mode: Mode) -> bool:
    """Endpoints in enforce mode, in the deployment's region: every endpoint goes to its
    rightsizing workflow (EndpointRightsizingStateMachine), which decides, deploys and FOLLOWS
    the deployment (a rollback is a decision of its own), as the weekly sweep does in this account."""
    return item.policy == "endpoints" and mode is Mode.ENFORCE and bool(settings().endpoint_rightsizing_arn) \
        and item.region == settings().region


def workflows(item: Item, section: Any, mode: Mode) -> dict[str, Any]:
    """The account's endpoints handed to their workflows (they announce their own decisions)."""
    from datetime import UTC, datetime

    from greenrail.flows import endpoints

    machine = settings().endpoint_rightsizing_arn
    assert machine is not None  # hands_to_workflows
    try:
        started = endpoints.sweep(section, machine, item.account, datetime.now(UTC), own_too=True)
    except Exception as exc:
        raise ScanFailed(f"{error_code(exc)}: {item.policy} sweep failed: {' '.join(str(exc).split())[:300]}") \
            from exc
    # no decision of its own: the workflows make and announce them
    return {**summary(item, mode, [], 0), "workflows": len(started["started"]), "already": started["skipped"]}


def sweep_item(item: Item, document: Any, once: Once, publish: Publish = bus.publish) -> dict[str, Any]:
    """One policy's scan in one account and region, through that account's member role.

    A downsize is never made here without being followed: endpoints in enforce mode go to their
    rightsizing workflow (:func:`hands_to_workflows`); in another region (no workflow there) they
    are scanned in dry-run, recommended, not deployed."""
    from greenrail.registry import get

    if item.policy not in sweepable():
        raise ScanFailed(f"UnknownPolicy: {item.policy} is not sweepable across the Organization")
    definition = get(item.policy)
    section = getattr(document, item.policy)
    mode = section.mode
    if mode is Mode.OFF:
        return {"policy": item.policy, "account": item.account, "region": item.region, "mode": mode.value,
                "status": "off"}
    role = member_role_arn(item.account, own_too=True)
    if role is None:
        raise RoleNotAssumable("NoMemberRole: GREENRAIL_MEMBER_ROLE_NAME is not set (not an Organization deployment)")
    assert definition.scan is not None  # sweepable() holds scannable policies only
    with acting_in(item.account, own_too=True), in_region(item.region):
        try:
            assume_member_role()
        except Exception as exc:
            raise RoleNotAssumable(f"{error_code(exc)}: cannot assume {role}: {' '.join(str(exc).split())[:300]}") \
                from exc
        if hands_to_workflows(item, mode):
            return workflows(item, section, mode)
        if item.policy == "endpoints" and mode is Mode.ENFORCE:
            mode = Mode.DRY_RUN  # no workflow to follow a deployment in that region: recommended only
        try:
            decisions = [_labelled(d, item.account) for d in definition.scan(section, mode)]
        except Exception as exc:
            raise ScanFailed(f"{error_code(exc)}: {item.policy} scan failed: {' '.join(str(exc).split())[:300]}") \
                from exc
    return summary(item, mode, decisions, announce(decisions, once, publish))


# ---------------------------------------------------------------- report
class Planned(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    count: int = Field(default=0, ge=0)


class ReportState(BaseModel):
    """The execution's state at the report: its input, ``plan`` (the plan's outputs), ``map``
    (the Map's ResultWriter details) or ``map_error``, or ``plan_error``."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    plan: Planned | None = None
    policies: Any = ""  # the execution's input (the schedule's), when the plan failed
    map: MapOutput | None = None
    plan_error: StepError | None = None
    map_error: StepError | None = None


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    run: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")  # the execution's name
    state_machine: Utf8Text = Field(min_length=1, max_length=2048)
    state: ReportState = Field(default_factory=ReportState)


def results(details: ResultLocation | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the succeeded items' summaries, the failed items) from the Map's ResultWriter manifest."""
    from greenrail.adapters import s3

    if not details:
        return [], []
    manifest = json.loads(s3.read_object(details.Bucket, details.Key))
    bucket = manifest.get("DestinationBucket", details.Bucket)
    succeeded: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for status, sink in (("SUCCEEDED", succeeded), ("FAILED", failed)):
        for entry in manifest.get("ResultFiles", {}).get(status, []):
            sink.extend(json.loads(s3.read_object(bucket, entry["Key"])))
    outputs = []
    for entry in succeeded:
        output = json.loads(entry.get("Output") or "null")
        output = output.get("Payload", output) if isinstance(output, dict) else None
        if isinstance(output, dict):
            outputs.append(output)
    return outputs, [failure(entry) for entry in failed]


def failure(entry: dict[str, Any]) -> dict[str, str]:
    """One failed child execution: its item, its error, and the why (the Lambda error's message)."""
    try:
        item = json.loads(entry.get("Input") or "{}")
    except ValueError:
        item = {}
    cause = str(entry.get("Cause") or "")
    try:
        parsed = json.loads(cause)
        cause = str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause
    except ValueError:
        pass
    item = item if isinstance(item, dict) else {}
    return {"account": str(item.get("account", "?")), "region": str(item.get("region", "?")),
            "policy": str(item.get("policy", "?")), "error": str(entry.get("Error") or "States.TaskFailed"),
            "cause": " ".join(cause.split())[:300]}


def _why(failed: dict[str, str]) -> str:
    if failed["error"] == "RoleNotAssumable":
        return f"its member role cannot be assumed ({failed['cause'].split(':', 1)[0]})"
    return f"{failed['error']}: {failed['cause']}"


def describe_failures(failures: list[dict[str, str]], limit: int = MAX_ACCOUNTS_IN_REASON) -> str:
    """The failed items, grouped by account and cause: ``account 1 (eu-west-1, us-east-1;
    endpoints, training): its member role cannot be assumed (AccessDenied)``; beyond ``limit``
    groups, how many more."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for f in failures:
        groups.setdefault((f["account"], _why(f)), []).append(f)
    parts = []
    for (account, why), items in sorted(groups.items()):
        regions = sorted({f["region"] for f in items})
        policies = sorted({f["policy"] for f in items})
        parts.append(f"account {account} ({', '.join(regions)}; {', '.join(policies)}): {why}")
    more = len(parts) - limit
    return "; ".join(parts[:limit]) + (f"; and {more} more (the run's FAILED results files list them all)"
                                       if more > 0 else "")


def failure_decision(failures: list[dict[str, str]], total: int, run: str, state_machine: str,
                     problem: tuple[str, dict[str, Any]] | None = None, policy: str | None = None) -> Decision | None:
    """ONE decision for everything the sweep could not do (None when nothing failed). Its policy
    is ``policy`` (:func:`label`; Decision.policy is one of the policies), its resource the state
    machine, so Security Hub keeps one finding updated run after run. ``problem``: (the step,
    its Step Functions error) when the plan or the Map itself failed."""
    if not failures and not problem:
        return None
    from greenrail.aws import account_id

    policy = policy or label([])
    accounts = sorted({f["account"] for f in failures})
    parts = []
    if failures:
        parts.append(f"Organization sweep {run}: {len(failures)} of {total} items failed in {len(accounts)} "
                     f"account(s), the others were swept: {describe_failures(failures)}")
    if problem:
        step, error = problem
        parts.append(f"Organization sweep {run}: the {step} failed: {error.get('Error')} "
                     f"({' '.join(str(error.get('Cause', '')).split())[:300]})")
    codes = Counter(f["error"] for f in failures)
    return Decision(
        policy=cast(PolicyName, policy), resource=state_machine, account=account_id(), region=settings().region, action="none",
        mode=Mode.DRY_RUN, applied=False, compliant=False, severity="MEDIUM",
        error=codes.most_common(1)[0][0] if codes else str(problem[1].get("Error") if problem else "Failed"),
        reason="; ".join(parts) + "; they are tried again by the next sweep",
        figures={"run": run, "items": total, "failed_items": len(failures), "failed_accounts": accounts[:MAX_FAILURES_NAMED],
                 "failed": failures[:MAX_FAILURES_NAMED], "errors": dict(codes)},
    )


def label(policies: list[str]) -> str:
    """The policy the run's decision about itself is filed under: the first of the policies the
    schedule asks for, in registry order, so that its Security Hub finding (keyed on policy and
    state machine) is the same one run after run: opened by a failure, archived by the next
    clean run."""
    known = sweepable()
    return next((name for name in known if name in policies), None) or default_policies()[0]


def resolution(policy: str, total: int, run: str, state_machine: str) -> Decision:
    """A run where nothing failed: compliant, it archives the finding an earlier failure opened
    (logged and audited, never notified)."""
    from greenrail.aws import account_id

    return Decision(policy=cast(PolicyName, policy), resource=state_machine, account=account_id(),
                    region=settings().region, action="none", mode=Mode.DRY_RUN, applied=False, compliant=True,
                    reason=f"Organization sweep {run}: all {total} items swept", figures={"run": run, "items": total})


def report(request: dict[str, Any] | ReportRequest, publish: Publish = bus.publish) -> dict[str, Any]:
    """Totals of the run, the failure decision (published) when anything failed, and the compliant
    decision that archives an earlier run's failure finding when nothing failed. ``request``:
    ``{"run", "state_machine", "state"}``, the state holding ``plan``, and ``map`` (the
    ResultWriter's details) or ``map_error``, or ``plan_error``. Results that cannot be read
    back (gone, not JSON) are a failure of the run too, named by the decision."""
    request = ReportRequest.model_validate(request)
    state = request.state
    unread: dict[str, Any] | None = None
    try:
        outputs, failures = results(state.map.ResultWriterDetails if state.map else None)
    except (ValueError, TypeError, KeyError, AttributeError, ClientError) as exc:
        if isinstance(exc, ClientError) and not is_permanent(exc):
            raise  # throttled: the state machine retries the report
        outputs, failures = [], []
        unread = {"Error": error_code(exc), "Cause": "the Distributed Map's results could not be read back"}
    problem = (("plan", state.plan_error.model_dump()) if state.plan_error else
               ("Distributed Map", state.map_error.model_dump()) if state.map_error else
               ("reading of its results", unread) if unread else None)
    total = (state.plan.count if state.plan else 0) or len(outputs) + len(failures)
    # what the schedule asks, plan or no plan, whatever is off: a failure's finding and the next
    # clean run's resolution are filed under one policy
    asked = _names(state.policies) if isinstance(state.policies, str) else []
    policy = label(asked or default_policies())
    decision = failure_decision(failures, total, request.run, request.state_machine, problem, policy)
    publish([decision if decision is not None else resolution(policy, total, request.run, request.state_machine)])
    swept = [o for o in outputs if o.get("status") == "swept"]
    return {
        "run": request.run, "items": total, "swept": len(swept), "off": len(outputs) - len(swept),
        "failed": len(failures), "failed_accounts": sorted({f["account"] for f in failures})[:MAX_FAILURES_NAMED],
        "actions": sum(int(o.get("actions", 0)) for o in swept), "applied": sum(int(o.get("applied", 0)) for o in swept),
        "announced": sum(int(o.get("announced", 0)) for o in swept),
        "usd_per_month": round(sum(float(o.get("usd_per_month", 0)) for o in swept), 2),
        "failure_decision": decision is not None,
    }
