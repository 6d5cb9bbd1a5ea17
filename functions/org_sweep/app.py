"""The Organization sweep's plan and report (OrgSweepStateMachine, Organization deployments).

``{"plan": {"run", "bucket", "regions", "policies"}}``: the Organization's ACTIVE accounts x the
regions x the policies, written to the results bucket; returns where, and counts. A malformed
plan input (an unknown region or policy...) is logged (field names only) and counted, and fails
the step (``MalformedSweepInput``): the report names it.
``{"report": {...}}``: the Distributed Map's ResultWriter files read back; one decision naming
every failed account, region and policy (published), and the run's totals. Any other input is
malformed: logged (field names only), counted, nothing done. See ``greenrail.flows.org_sweep``.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from greenrail.document import load_policy
from greenrail.events import validation_problems
from greenrail.flows.org_sweep import MalformedSweepInput, PlanRequest, ReportRequest, plan, report
from greenrail.observability import Observability

observe = Observability("greenrail-org-sweep")


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: PlanRequest | None = None
    report: ReportRequest | None = None


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = _Input.model_validate(event)
    except ValidationError as exc:
        problems = validation_problems(exc)
        if isinstance(event, dict) and "plan" in event:  # the Plan step fails; the report names why
            observe.malformed("malformed org sweep plan input: nothing planned", problems)
            raise MalformedSweepInput(problems) from None
        return observe.malformed("malformed org sweep input: nothing done", problems)
    if request.plan is not None:
        planned = plan(request.plan, load_policy())  # errors raise: the state machine retries, then reports
        observe.count("OrgSweepItems", planned["count"])
        observe.logger.info("org sweep planned", extra={k: v for k, v in planned.items() if k != "items"})
        return planned
    if request.report is None:
        return observe.malformed("org sweep input names neither plan nor report", [])
    totals = report(request.report)
    observe.count("OrgSweepItemsFailed", totals["failed"])
    observe.logger.info("org sweep finished", extra=totals)
    return totals
