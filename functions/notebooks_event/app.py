"""Notebooks policy, at once: a notebook instance InService, or a Studio change CloudTrail recorded.

Events: ``SageMaker Notebook Instance State Change`` (InService: stopped if outside working hours),
and ``AWS API Call via CloudTrail`` for CreateApp, CreateSpace, UpdateDomain and UpdateSpace (the
domain's idle shutdown and the space's default instance, evaluated now rather than at the next
sweep; these need a CloudTrail trail in the account). Each event is a hint: the resource is read
afresh. See ``greenrail.flows.notebooks``.
"""


from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows.notebooks import (
    NotebookInstanceStateChange,
    StudioApiCall,
    notebook_instance_changed,
    studio_api_call,
)
from greenrail.observability import Observability
from greenrail.policies.notebooks import POLICY, NotebooksPolicy
from greenrail.state import run_once

observe = Observability("greenrail-notebooks-event")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        if isinstance(event, dict) and event.get("detail-type") == "AWS API Call via CloudTrail":
            call = StudioApiCall.model_validate(event)
        else:
            change = NotebookInstanceStateChange.model_validate(event)
    except ValidationError as exc:
        return observe.malformed("malformed notebooks event: nothing evaluated", validation_problems(exc))
    policy = load_section(POLICY, NotebooksPolicy)  # a bad document raises: retried, then kept in the DLQ
    once = (lambda subject, work: run_once(subject, work, POLICY, context))  # noqa: E731
    now = datetime.now(UTC)
    if event.get("detail-type") == "AWS API Call via CloudTrail":
        request = call.detail.requestParameters
        result = studio_api_call(call.detail.eventName, request.domainId, request.spaceName, call.account, policy,
                                 now, once, call.id)
    elif change.detail.NotebookInstanceStatus != "InService":
        return {"status": "ignored", "reason": f"notebook instance {change.detail.NotebookInstanceStatus}"}
    else:
        result = notebook_instance_changed(change.detail.NotebookInstanceName, change.account, policy, now, once,
                                           change.id)
    observe.count("NotebooksActions", result.get("applied", 0))
    return result
