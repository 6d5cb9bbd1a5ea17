"""Training evaluate: the watch workflow's Task — one turn of ``greenrail.flows.watch.turn``.

Input ``{"job_name", "job_arn", "previous_action"}``; output ``{"done", "status", "action",
"applied", "published_action"}`` (the workflow threads ``published_action`` back in). Input that
is not a watch turn's is logged (``InvalidWatchInput``) and ends the watch (``done: true``).
Errors that outlive botocore's retries raise: the state machine retries the Task, then fails.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from greenrail.decision import Action
from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows.watch import turn
from greenrail.observability import Observability
from greenrail.policies.training import POLICY, UNREADABLE, TrainingPolicy
from greenrail.validation import SageMakerJobArn, TrainingJobName

observe = Observability("greenrail-training-evaluate")


class EvaluateInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_name: TrainingJobName
    job_arn: SageMakerJobArn | None = None  # its account is acted in; a training, processing or tuning job
    previous_action: Action = "none"


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = EvaluateInput.model_validate(event)
    except ValidationError as exc:
        # A retry cannot fix the input: end this watch cleanly (`greenrail scan` still evaluates the job).
        observe.malformed("invalid watch input: nothing to watch", validation_problems(exc), "InvalidWatchInput")
        previous = event.get("previous_action") if isinstance(event, dict) else None
        return {"done": True, "status": "InvalidInput", "action": "none", "applied": False,
                "published_action": previous if isinstance(previous, str) else "none"}
    step = turn(request.job_name, load_section(POLICY, TrainingPolicy), request.previous_action, request.job_arn)
    decision = step.decision
    observe.logger.info("training job evaluated", extra={"job": request.job_name, "decision": decision.scan_line(),
                                                         "published": step.publish})
    if decision.status == UNREADABLE:
        observe.count("TrainingJobUnreadable")
    if step.recovered:  # counted by the attempt that stopped it
        observe.count("TrainingStopAnnouncedLate")
    elif decision.action == "stop":
        observe.count("TrainingStopDecision")
        if decision.applied:
            observe.count("TrainingJobStopped")
    return step.output()
