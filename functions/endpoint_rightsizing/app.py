"""Endpoint rightsizing: the Task of every step of the EndpointRightsizingStateMachine.

``{"step": "evaluate" | "poll-job" | "await" | "follow" | "failed", "execution", ...}`` (see
``greenrail.flows.endpoints``). Input that is not a step's is logged (``InvalidRightsizingInput``)
and ends the workflow (``next: done``, ``done: true``, ``status: InvalidInput``). Errors that outlive botocore's retries raise: the state
machine retries the Task, then ends in a decision that says so.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows import endpoints as flow
from greenrail.observability import Observability
from greenrail.policies.endpoints import POLICY, EndpointsPolicy
from greenrail.state import run_once

observe = Observability("greenrail-endpoint-rightsizing")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        s = flow.TaskInput.model_validate(event)
    except ValidationError as exc:
        observe.malformed("invalid rightsizing input", validation_problems(exc), "InvalidRightsizingInput")
        # every field a step's ResultSelector reads (next; done, status; done, state): the workflow ends
        return {"next": "done", "done": True, "status": "InvalidInput", "state": "failed", "decisions": []}
    once = (lambda subject, work: run_once(subject, work, POLICY, context))  # noqa: E731
    if s.step == "failed":
        return flow.failed(s.endpoint, s.account, s.error, s.execution, once)
    if s.step == "poll-job":
        return flow.poll_job(str(s.job), s.account)
    if s.step == "await":
        return flow.await_deployment(s.endpoint, s.account, s.token, s.seconds) if s.token else {"waiting": False}
    if s.step == "follow":
        result = flow.follow(s.endpoint, s.account, s.deployment or {}, s.polls, s.max_polls, s.execution, once)
        observe.count(f"EndpointDeployment{result['state'].title().replace('-', '')}")
        return result
    result = flow.evaluate(s.endpoint, s.account, load_section(POLICY, EndpointsPolicy), datetime.now(UTC), once,
                           s.execution, s.waited, s.gave_up, s.event_id, s.loads)
    observe.count("EndpointVariantsEvaluated", len(result["decisions"]))
    return result
