"""Endpoint rightsizing starter: ``SageMaker Endpoint State Change`` (IN_SERVICE) or the weekly sweep;
``SageMaker Endpoint Deployment State Change`` resumes the workflow following that deployment.

An event starts one rightsizing workflow for its endpoint (which first waits the policy's
settle time); ``{"sweep": true}`` (the weekly schedule) starts one for every InService endpoint
of this account; a deployment event of an endpoint whose workflow waits for it (one Greenrail
deployed) resumes that workflow at once (``greenrail.flows.endpoints.wake``). Executions are named from the endpoint and its state
(``greenrail.flows.endpoints.execution_name``): a duplicate event starts nothing. Malformed or
foreign events are logged and counted (``MalformedEndpointEvent``) and skipped.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from greenrail.arn import account_of
from greenrail.aws import account_id
from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows import endpoints as flow
from greenrail.observability import Observability
from greenrail.policies.endpoints import POLICY, EndpointsPolicy
from greenrail.settings import settings

observe = Observability("greenrail-endpoint-event")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    policy = load_section(POLICY, EndpointsPolicy)
    machine = str(settings().endpoint_rightsizing_arn)
    if isinstance(event, dict) and event.get("sweep") is True:
        own = account_of(getattr(context, "invoked_function_arn", "")) or account_id()
        report = flow.sweep(policy, machine, own, datetime.now(UTC))
        observe.count("EndpointWorkflowsStarted", len(report["started"]))
        return report
    try:
        if isinstance(event, dict) and event.get("detail-type") == "SageMaker Endpoint Deployment State Change":
            woken = flow.wake(flow.DeploymentStateChange.model_validate(event))
            observe.count("EndpointWorkflowsResumed", int(woken["woken"]))
            return woken
        parsed = flow.EndpointStateChange.model_validate(event)
    except ValidationError as exc:
        observe.malformed("malformed endpoint event", validation_problems(exc), "MalformedEndpointEvent")
        return {"started": False, "reason": "malformed or foreign event"}
    result = flow.start_from_event(parsed, policy, machine, datetime.now(UTC))
    if result["started"]:
        observe.count("EndpointWorkflowsStarted")
    else:
        observe.logger.info(result["reason"], extra={"endpoint": parsed.detail.EndpointName})
    return result
