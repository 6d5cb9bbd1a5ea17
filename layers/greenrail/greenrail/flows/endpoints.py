"""The endpoint rightsizing workflow: one Step Functions execution per endpoint and state.

* **start** (``SageMaker Endpoint State Change`` to ``IN_SERVICE``, or the weekly sweep): one
  execution per endpoint, named from the account, the endpoint, its endpoint config and the ISO
  week (:func:`execution_name`), so the same event three times, or the sweep after the event,
  cannot start a second workflow (``ExecutionAlreadyExists``: already running or done);
* **evaluate** (a Task): read every variant, start an Inference Recommender job when the policy
  allows it and none is there (the workflow then polls it, bounded), decide each variant, start at
  most one guarded deployment (UpdateEndpoint is per endpoint), announce the other decisions;
* **poll-job**: the job's status (Inference Recommender sends no event);
* **await** (``.waitForTaskToken``): keep the Task token for the endpoint; the next ``SageMaker
  Endpoint Deployment State Change`` of that endpoint resumes the Task at once (:func:`wake`, the
  event function), else it times out after ``deployment_poll_minutes`` (events are best-effort);
* **follow**: the deployment's state from DescribeEndpoint (after each event or timeout) until it
  baked or rolled back; its decision is made and announced there only, once (a rollback:
  ``applied: false``, the reason from the deployment, and the endpoint tagged so that model is not
  tried again);
* **failed**: a Task that failed after its retries ends as a decision that says so.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from greenrail import bus
from greenrail.adapters import endpoints as api
from greenrail.adapters import stepfunctions
from greenrail.arn import account_of
from greenrail.aws import acting_in
from greenrail.decision import Decision, Mode
from greenrail.flows import Once
from greenrail.policies.endpoints import (
    POLICY,
    EndpointsPolicy,
    Load,
    RecommendationJob,
    Variant,
    apply,
    decide,
    deployment_outcome,
    load_endpoint,
    mark_autoscaled,
    read_loads,
    settle_deployment,
)
from greenrail.state import BlastRadius
from greenrail.validation import EventId

logger = logging.getLogger(__name__)
EXECUTION_NAME_MAX = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
ENDPOINT_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"  # CreateEndpoint EndpointName
# Deployment events one deployment sends at most (a status change or a step of the new fleet:
# creating, shifting each canary or linear step, baking, rolling back, done), each a follow more
DEPLOYMENT_EVENTS = 40


class EndpointDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    EndpointName: str = Field(pattern=ENDPOINT_NAME)
    EndpointArn: str = Field(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:endpoint/.{1,63}$")
    EndpointConfigName: str = Field(default="", max_length=63)
    EndpointStatus: str = Field(pattern=r"^[A-Z_]{1,32}$")
    PendingDeploymentSummary: dict[str, Any] | None = None


class EndpointStateChange(BaseModel):
    """The whole ``SageMaker Endpoint State Change`` event the starter takes."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    id: str | None = Field(default=None, max_length=128)
    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Endpoint State Change"] = Field(alias="detail-type")
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    detail: EndpointDetail


class DeploymentStateChange(BaseModel):
    """The whole ``SageMaker Endpoint Deployment State Change`` event the starter takes (the step is
    in ``PendingDeploymentSummary``; only the endpoint matters here: the workflow reads the rest)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    id: str | None = Field(default=None, max_length=128)
    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Endpoint Deployment State Change"] = Field(alias="detail-type")
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    detail: EndpointDetail


class FollowedDeployment(BaseModel):
    """What the evaluate step hands the follow step: the downsize whose deployment it started."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    decision: Decision
    model_digest: str = Field(max_length=128, pattern=r"^[!-~]*$")
    new_config: str = Field(pattern=ENDPOINT_NAME)  # CreateEndpointConfig's name pattern is the same
    previous_config: str = Field(pattern=ENDPOINT_NAME)


class TaskInput(BaseModel):
    """The input of the EndpointRightsizingFunction (one step of the workflow, from the ASL)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    step: Literal["evaluate", "poll-job", "await", "follow", "failed"]
    execution: str = Field(min_length=1, max_length=80)
    endpoint: str = Field(pattern=ENDPOINT_NAME)
    account: str = Field(pattern=r"^(\d{12})?$")
    event_id: EventId | None = None
    waited: bool = False
    gave_up: bool = False
    job: str | None = Field(default=None, max_length=64)
    deployment: dict[str, Any] | None = None
    polls: int = 0
    max_polls: int = 1
    error: dict[str, Any] = Field(default_factory=dict)
    token: str = Field(default="", max_length=8192, pattern=r"^[!-~]*$")  # await: the Task token
    seconds: int = Field(default=300, ge=0, le=86_400)
    loads: dict[str, Load] | None = None  # evaluate: what the weekly sweep read, by variant name

    @field_validator("deployment")
    @classmethod
    def _a_deployment(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            FollowedDeployment.model_validate(value)
        return value

    @model_validator(mode="after")
    def _encodable(self) -> TaskInput:
        try:  # what the steps log, tag and publish is UTF-8 JSON (no lone surrogates)
            self.model_dump_json()
        except Exception as exc:  # noqa: BLE001 - pydantic's serialization error
            raise ValueError("not encodable as UTF-8 JSON") from exc
        return self


def execution_name(account: str, endpoint: str, config: str, now: datetime) -> str:
    """``endpoint-<name>-<digest>``: one per account, endpoint, endpoint config and ISO week (a
    new config, i.e. a new model or a deployment, or next week's sweep, is a new evaluation)."""
    year, week, _ = now.isocalendar()
    digest = hashlib.sha256(f"{account}:{endpoint}:{config}:{year}-W{week:02d}".encode()).hexdigest()[:16]
    return f"endpoint-{_UNSAFE.sub('-', endpoint)[:EXECUTION_NAME_MAX - 26]}-{digest}"


def workflow_input(endpoint: str, account: str, policy: EndpointsPolicy, settle: bool,
                   event_id: str | None, loads: dict[str, Load] | None = None) -> dict[str, Any]:
    """The execution input: deterministic, so a duplicate start is recognised as one. ``loads``:
    the variants' load the weekly sweep read for every endpoint at once (else evaluate reads it)."""
    return {
        "endpoint": endpoint, "account": account, "event_id": event_id,
        "loads": {variant: load.model_dump(mode="json") for variant, load in loads.items()} if loads else None,
        "settle_seconds": policy.settle_minutes * 60 if settle else 0,
        "job_poll_seconds": policy.recommendation_poll_minutes * 60,
        "max_job_polls": max(1, policy.max_recommendation_wait_minutes // policy.recommendation_poll_minutes),
        "deploy_poll_seconds": policy.deployment_poll_minutes * 60,
        # the deployment's own timeout, its bake and termination wait, and a margin
        # (plus the deployment events, which each resume the wait early)
        "max_deploy_polls": max(2, (policy.traffic_routing.max_deployment_minutes + policy.traffic_routing.bake_minutes
                                    + policy.traffic_routing.termination_wait_minutes + 30)
                                // policy.deployment_poll_minutes) + DEPLOYMENT_EVENTS,
        "job_polls": 0, "deploy_polls": 0,
    }


def start(endpoint: str, account: str, config: str, policy: EndpointsPolicy, state_machine_arn: str, now: datetime,
          settle: bool = True, event_id: str | None = None, loads: dict[str, Load] | None = None) -> dict[str, Any]:
    """Start the endpoint's workflow once; a second start for the same state is a no-op."""
    if policy.mode is Mode.OFF:
        return {"started": False, "reason": "endpoints policy is off"}
    name = execution_name(account, endpoint, config, now)
    try:
        arn = stepfunctions.start_execution(state_machine_arn, name,
                                            workflow_input(endpoint, account, policy, settle, event_id, loads))
    except stepfunctions.AlreadyStarted:
        return {"started": False, "reason": "already evaluated or being evaluated", "execution_name": name}
    return {"started": True, "execution_name": name, "execution_arn": arn}


def start_from_event(event: EndpointStateChange, policy: EndpointsPolicy, state_machine_arn: str,
                     now: datetime) -> dict[str, Any]:
    detail = event.detail
    if detail.EndpointStatus != "IN_SERVICE":
        return {"started": False, "reason": f"status {detail.EndpointStatus} is not evaluated"}
    account = account_of(detail.EndpointArn) or event.account or ""
    return start(detail.EndpointName, account, detail.EndpointConfigName, policy, state_machine_arn, now,
                 settle=True, event_id=event.id)


def sweep(policy: EndpointsPolicy, state_machine_arn: str, account: str, now: datetime,
          own_too: bool = False) -> dict[str, Any]:
    """Every InService endpoint of the account: one workflow each (none for this week's already).
    Every variant's load is read here, for all endpoints at once in GetMetricData batches of up to
    500 queries, and handed to its workflow (not two calls per endpoint in each workflow).
    ``own_too``: read through the member role in Greenrail's own account too (the Organization
    sweep's worker acts only through member roles)."""
    started: list[str] = []
    skipped = 0
    if policy.mode is Mode.OFF:
        return {"started": started, "skipped": skipped, "reason": "endpoints policy is off"}
    with acting_in(account, own_too=own_too):
        found: list[tuple[str, dict[str, Any]]] = []
        for summary in api.list_endpoints():
            if summary.get("EndpointStatus") != "InService":
                continue
            name = str(summary["EndpointName"])
            try:
                found.append((name, api.describe_endpoint(name)))
            except api.EndpointGone:
                continue
        by_endpoint: dict[str, dict[str, Load]] = {}
        read = read_loads([v for name, described in found for v in _variant_stubs(name, described, account, now)],
                          policy, now)
        for (endpoint, variant), load in read.items():
            by_endpoint.setdefault(endpoint, {})[variant] = load
        for name, described in found:
            result = start(name, account, str(described.get("EndpointConfigName", "")), policy, state_machine_arn,
                           now, settle=False, loads=by_endpoint.get(name))
            if result["started"]:
                started.append(name)
            else:
                skipped += 1
    return {"started": started, "skipped": skipped}


def _variant_stubs(name: str, described: dict[str, Any], account: str, now: datetime) -> list[Variant]:
    """What reading a variant's load needs (names, age), from DescribeEndpoint alone."""
    from greenrail.aws import region

    created = described.get("CreationTime")
    age = 0.0
    if isinstance(created, datetime):
        age = (now - (created if created.tzinfo else created.replace(tzinfo=UTC))).total_seconds() / 86_400
    return [Variant(endpoint=name, endpoint_arn=str(described.get("EndpointArn", "")), account=account,
                    region=region(), endpoint_status="InService", variant=str(v.get("VariantName")),
                    config_name=str(described.get("EndpointConfigName", "")), age_days=round(max(age, 0.0), 3))
            for v in described.get("ProductionVariants") or [] if not v.get("CurrentServerlessConfig")]


# ---------------------------------------------------------------- the workflow's Tasks
def _eligible(variant: Variant, policy: EndpointsPolicy) -> bool:
    return (not variant.problem and not variant.serverless and variant.endpoint_status == "InService"
            and not policy.exemptions.exempts(variant.endpoint, variant.tags))


def job_name(variant: Variant, now: datetime) -> str:
    """A Default job's name (1-64 characters), one per model and week: a retried Task starts none twice."""
    year, week, _ = now.isocalendar()
    digest = hashlib.sha256(f"{variant.model_name}:{year}-W{week:02d}".encode()).hexdigest()[:10]
    model = re.sub(r"[^a-zA-Z0-9]+", "-", str(variant.model_name)).strip("-")[:40]
    return f"greenrail-{model}-{digest}"


def _announce(decisions: list[Decision], execution: str, once: Once) -> None:
    for decision in decisions:
        if decision.action == "none" and not decision.error:
            continue
        subject = {"policy": POLICY, "execution": execution, "resource": decision.resource,
                   "variant": decision.target.get("variant") or decision.figures.get("variant"),
                   "action": decision.action, "applied": decision.applied, "error": decision.error}
        once(subject, _publisher(decision))


def _publisher(decision: Decision) -> Any:
    return lambda: {"published": bus.publish([decision])}


def evaluate(endpoint: str, account: str, policy: EndpointsPolicy, now: datetime, once: Once, execution: str,
             waited: bool = False, gave_up: bool = False, event_id: str | None = None,
             loads: dict[str, Load] | None = None) -> dict[str, Any]:
    """The workflow's evaluate Task: ``next`` is ``wait-job``, ``deploying`` or ``done``. ``loads``:
    the variants' load the sweep read (by variant name); read here when one is missing."""
    mode = policy.mode
    with acting_in(account or None):
        try:
            variants = mark_autoscaled(load_endpoint(endpoint, now, exemptions=policy.exemptions))
        except api.EndpointGone:
            return {"next": "done", "reason": "the endpoint does not exist (any more)", "decisions": []}
        wanting = [v for v in variants if _eligible(v, policy) and v.job.status != "COMPLETED" and v.model_name]
        if wanting and policy.allow_start_recommendation_job and mode is not Mode.OFF and not waited and not gave_up:
            first = wanting[0]
            if first.job.status in api.PENDING_JOB_STATUSES and first.job.name:
                return {"next": "wait-job", "job": first.job.name, "decisions": []}
            name = api.start_recommendation_job(job_name(first, now), str(first.model_name),
                                                str(policy.recommendation_job_role_arn), {api.GREENRAIL_TAG: POLICY})
            return {"next": "wait-job", "job": name, "decisions": []}
        if gave_up:
            variants = [v.model_copy(update={"job": RecommendationJob(**{**v.job.model_dump(), "gave_up": True})})
                        if v.job.status != "COMPLETED" else v for v in variants]
        eligible = [v for v in variants if _eligible(v, policy)]
        if loads and all(v.variant in loads for v in eligible):
            read = {(v.endpoint, v.variant): loads[v.variant] for v in eligible}
        else:
            read = read_loads(eligible, policy, now)
        blast = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)
        decisions: list[Decision] = []
        deploying: dict[str, Any] | None = None
        for variant in variants:
            variant = variant.model_copy(update={"load": read.get((variant.endpoint, variant.variant))})
            decision = decide(variant, policy, mode, now, event_id)
            if decision.action == "downsize" and deploying is not None:
                decision = decision.model_copy(update={"reason": decision.reason + "; not applied: one deployment "
                                                       "per endpoint at a time (the next evaluation takes it)"})
            else:
                decision = apply(decision, variant, policy, blast)
            if decision.action == "downsize" and decision.applied:
                deploying = {"decision": decision.model_dump(mode="json"), "model_digest": variant.model_digest,
                             "new_config": decision.figures["new_endpoint_config"],
                             "previous_config": variant.config_name}
            else:
                decisions.append(decision)
    _announce(decisions, execution, once)
    lines = [d.scan_line() for d in decisions]
    if deploying is not None:
        return {"next": "deploying", "deployment": deploying, "decisions": lines}
    return {"next": "done", "decisions": lines}


def poll_job(job: str, account: str) -> dict[str, Any]:
    """The workflow's poll-job Task: ``done`` once the job is no longer PENDING or IN_PROGRESS."""
    with acting_in(account or None):
        try:
            status = str(api.describe_recommendation_job(job).get("Status"))
        except api.EndpointGone:
            status = "DELETED"
    return {"done": status not in api.PENDING_JOB_STATUSES, "status": status}


def await_deployment(endpoint: str, account: str, token: str, seconds: int) -> dict[str, Any]:
    """The workflow's await Task (``.waitForTaskToken``): keep its token for the endpoint's next
    deployment event. Best effort: unkept, the Task still ends after ``seconds`` (the poll)."""
    from greenrail.aws import region

    try:
        kept = api.remember_waiter(account or _own_account(), region(), endpoint, token, seconds + 3600)
    except Exception as exc:  # noqa: BLE001 - the timeout still follows the deployment
        logger.warning("deployment waiter of %s not kept (%s): the workflow polls", endpoint, exc)
        kept = False
    return {"waiting": kept}


def wake(event: DeploymentStateChange) -> dict[str, Any]:
    """A ``SageMaker Endpoint Deployment State Change``: resume at once the workflow that waits for
    this endpoint's deployment (one Greenrail started); its follow step then reads where the
    deployment stands and decides, once. Any other endpoint's deployment: nothing."""
    detail = event.detail
    parts = detail.EndpointArn.split(":")
    account = account_of(detail.EndpointArn) or event.account or ""
    token = api.claim_waiter(account, parts[3], detail.EndpointName)
    if token is None:
        return {"woken": False, "reason": "no Greenrail deployment of this endpoint is waiting"}
    step = _steps(detail.PendingDeploymentSummary) or detail.EndpointStatus
    resumed = stepfunctions.send_task_success(token, {"source": "event", "event_id": event.id,
                                                      "endpoint_status": detail.EndpointStatus})
    return {"woken": resumed, "endpoint": detail.EndpointName, "step": step,
            **({} if resumed else {"reason": "the workflow no longer waits (it polled meanwhile)"})}


def _steps(pending: dict[str, Any] | None) -> str:
    """The deployment's step from the event's PendingDeploymentSummary: its variants' VariantStatus."""
    variants = (pending or {}).get("ProductionVariants")
    found = {str(status.get("Status")) for variant in (variants if isinstance(variants, list) else [])
             if isinstance(variant, dict) and isinstance(variant.get("VariantStatus"), list)
             for status in variant["VariantStatus"] if isinstance(status, dict) and status.get("Status")}
    return ", ".join(sorted(found))


def _own_account() -> str:
    from greenrail.aws import account_id

    return account_id()


def follow(endpoint: str, account: str, deployment: dict[str, Any], polls: int, max_polls: int, execution: str,
           once: Once) -> dict[str, Any]:
    """The workflow's follow Task: the deployment's state; announced once it ended (or the wait did)."""
    if not isinstance(deployment.get("decision"), dict):
        return {"done": True, "state": "failed", "reason": "no deployment to follow"}
    decision = Decision.model_validate(deployment["decision"])
    with acting_in(account or None):
        try:
            described: dict[str, Any] | None = api.describe_endpoint(endpoint)
        except api.EndpointGone:
            described = None
        outcome = deployment_outcome(described, str(deployment["new_config"]), str(deployment["previous_config"]))
        if outcome.state == "in-progress" and polls < max_polls:
            return {"done": False, "state": outcome.state}
        final = settle_deployment(decision, outcome)
        if outcome.state == "rolled-back":
            # this model is not tried again (the tag holds its digest) until the endpoint's model changes
            api.tag_endpoint(decision.resource, {api.ROLLED_BACK_TAG: str(deployment["model_digest"])})
    _announce([final], execution, once)
    return {"done": True, "state": outcome.state, "decision": final.scan_line()}


def failed(endpoint: str, account: str, error: dict[str, Any], execution: str, once: Once) -> dict[str, Any]:
    """A Task failed after its retries: one decision that says so (nothing was left half-done:
    a deployment, once started, is SageMaker's to finish or roll back)."""
    from greenrail.aws import region
    from greenrail.document import PolicyError, load_section

    try:
        mode = load_section(POLICY, EndpointsPolicy).mode
    except (PolicyError, ValueError):  # the document itself may be what failed
        mode = Mode.DRY_RUN
    code = str(error.get("Error") or "Unknown")[:128]
    arn = f"arn:aws:sagemaker:{region()}:{account}:endpoint/{endpoint.lower()}"
    decision = Decision(policy=POLICY, resource=arn, account=account, region=region(), action="none",
                        mode=mode, compliant=False, error=code, severity="LOW",
                        figures={"endpoint": endpoint, "cause": str(error.get("Cause") or "")[:500]},
                        reason=f"the rightsizing workflow for {endpoint} failed ({code}); no change made by it "
                               "(the next event or weekly sweep evaluates the endpoint again)")
    _announce([decision], execution, once)
    return {"done": True, "decision": decision.scan_line()}
