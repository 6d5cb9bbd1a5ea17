"""The notebooks policy on its schedule and on its events.

* **sweep** (every 15 minutes by default): every account (this one, and in an Organization
  deployment every active member account through its role), every domain (a few at a time),
  user profile, space, app and notebook instance;
* **events**: a notebook instance InService (``SageMaker Notebook Instance State Change``), and
  CloudTrail's ``AWS API Call via CloudTrail`` for CreateApp, CreateSpace, UpdateDomain and
  UpdateSpace: the domain (and the space) they name, at once, instead of at the next sweep.

Each decision is applied (enforce) and announced once per resource state
(``greenrail.flows.settle``): the same idle app seen by two sweeps is deleted once; an action
refused because the resource was being changed (ConflictException) is not remembered, so the
next sweep tries it again, as is one still throttled after botocore's retries (an error of that
resource only: the sweep goes on with the others).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from greenrail import bus
from greenrail.aws import acting_in, error_code
from greenrail.decision import Decision, Mode
from greenrail.flows import Once, Publish, settle
from greenrail.policies import notebooks
from greenrail.policies.notebooks import NotebooksPolicy, Resource
from greenrail.state import BlastRadius
from greenrail.validation import AccountId, EventId, Region

logger = logging.getLogger(__name__)

# SageMaker's name and id patterns (botocore's service model: NotebookInstanceName, SpaceName, DomainId)
RESOURCE_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
DOMAIN_ID = r"^d-(-*[a-z0-9]){1,61}$"
STUDIO_EVENTS = ("CreateApp", "CreateSpace", "UpdateDomain", "UpdateSpace")


# ---------------------------------------------------------------- the events (their whole shape, checked)
class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)  # AWS adds fields over time


class NotebookInstanceDetail(_Loose):
    NotebookInstanceName: str = Field(pattern=RESOURCE_NAME)
    NotebookInstanceStatus: str = Field(pattern=r"^[A-Za-z]{1,32}$")


class NotebookInstanceStateChange(_Loose):
    id: EventId | None = None
    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Notebook Instance State Change"] = Field(alias="detail-type")
    account: AccountId | None = None
    region: Region | None = None
    detail: NotebookInstanceDetail


class StudioRequest(_Loose):
    domainId: str = Field(pattern=DOMAIN_ID)  # noqa: N815 - CloudTrail's name
    spaceName: str | None = Field(default=None, pattern=RESOURCE_NAME)  # noqa: N815


class StudioCallDetail(_Loose):
    eventSource: Literal["sagemaker.amazonaws.com"]  # noqa: N815
    eventName: Literal["CreateApp", "CreateSpace", "UpdateDomain", "UpdateSpace"]  # noqa: N815
    errorCode: None = None  # noqa: N815 - a call that failed changed nothing
    requestParameters: StudioRequest  # noqa: N815


class StudioApiCall(_Loose):
    """``AWS API Call via CloudTrail`` for a Studio change (needs a CloudTrail trail in the account)."""

    id: EventId | None = None
    source: Literal["aws.sagemaker"]
    detail_type: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    account: AccountId | None = None
    region: Region | None = None
    detail: StudioCallDetail


def evaluate(resources: list[Resource], policy: NotebooksPolicy, mode: Mode, now: datetime, once: Once,
             publish: Publish = bus.publish, blast: BlastRadius | None = None,
             event_id: str | None = None) -> list[Decision]:
    """Decide every resource, then act (GPU apps first) and announce, each once per resource state."""
    blast = blast or BlastRadius(notebooks.POLICY, policy.blast_radius.max_actions_per_hour)
    decided = sorted(((notebooks.decide(r, policy, now, mode, event_id), r) for r in resources),
                     key=notebooks.priority)
    outcomes = []
    for decision, resource in decided:
        if decision.action == "none":
            outcomes.append(decision)
            continue

        def act(d: Decision, resource: Resource = resource) -> Decision:
            return notebooks.apply(d, resource, policy, blast)

        outcomes.append(settle(decision, notebooks.subject(decision, resource), act, once, publish,
                               remember_errors=False))
    return outcomes


def sweep_account(policy: NotebooksPolicy, now: datetime, once: Once, account: str | None = None,
                  publish: Publish = bus.publish) -> dict[str, Any]:
    """One account's estate (``account`` None: this one)."""
    errors: list[tuple[str, Exception]] = []
    with acting_in(account):
        resources = notebooks.load_estate(errors)
        decisions = evaluate(resources, policy, policy.mode, now, once, publish)
    for name, exc in errors:
        logger.error("notebooks: could not read", extra={"resource": name, "error": error_code(exc)})
    return {"account": account, "evaluated": len(resources), "errors": len(errors), **summary(decisions)}


def sweep(policy: NotebooksPolicy, now: datetime, once: Once, own: str) -> dict[str, Any]:
    """Every account of the deployment, one after another (each with a few domains at a time)."""
    from greenrail.flows.sweep import plan

    if policy.mode is Mode.OFF:
        return {"status": "off", "accounts": []}
    targets = [t["account"] for t in plan(own)["targets"]]
    reports = []
    for account in targets:
        try:
            reports.append(sweep_account(policy, now, once, None if account == own else account))
        except Exception as exc:  # noqa: BLE001 - one account's failure does not stop the others
            logger.error("notebooks: account sweep failed", extra={"account": account, "error": error_code(exc)})
            reports.append({"account": account, "error": error_code(exc)})
    return {"status": "swept", "accounts": reports}


def studio_api_call(event_name: str, domain_id: str, space_name: str | None, account: str | None,
                    policy: NotebooksPolicy, now: datetime, once: Once, event_id: str | None = None,
                    publish: Publish = bus.publish) -> dict[str, Any]:
    """A Studio change CloudTrail recorded: the domain it touched (and the space), evaluated now."""
    from greenrail.adapters import studio

    if policy.mode is Mode.OFF:
        return {"status": "off"}
    spaces = [space_name] if space_name else []
    with acting_in(account):
        try:
            resources = notebooks.load_domain_estate(domain_id, spaces=spaces, apps=False, profiles=False)
        except studio.NotFound:
            return {"status": "gone", "domain": domain_id}
        decisions = evaluate(resources, policy, policy.mode, now, once, publish, event_id=event_id)
    return {"status": "evaluated", "event": event_name, **summary(decisions)}


def notebook_instance_changed(name: str, account: str | None, policy: NotebooksPolicy, now: datetime, once: Once,
                              event_id: str | None = None, publish: Publish = bus.publish) -> dict[str, Any]:
    """A notebook instance changed state: described afresh (the event is a hint) and decided."""
    from greenrail.adapters import studio

    if policy.mode is Mode.OFF:
        return {"status": "off"}
    with acting_in(account):
        try:
            resource = notebooks.load_notebook(name)
        except studio.NotFound:
            return {"status": "gone", "notebook_instance": name}
        decisions = evaluate([resource], policy, policy.mode, now, once, publish, event_id=event_id)
    return {"status": "evaluated", **summary(decisions)}


def summary(decisions: list[Decision]) -> dict[str, Any]:
    acted = [d for d in decisions if d.action != "none"]
    return {"decisions": [d.scan_line() for d in acted], "evaluated_decisions": len(decisions),
            "applied": sum(d.applied for d in acted), "failed": [d.error for d in acted if d.error]}
