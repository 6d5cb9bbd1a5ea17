"""Training watch starter: a SageMaker training, processing or hyperparameter tuning job's state
change (InProgress) -> one watch execution.

The execution is named from the job (``greenrail.flows.watch.execution_name``), so a duplicate
event cannot start a second watch. Events that are not a training job's state change, or whose
fields are missing or malformed (an ARN without a twelve-digit account and a known region), are
logged and counted (``MalformedTrainingEvent``) and skipped: retrying cannot help. What still fails after
botocore's retries raises, so the asynchronous invocation is retried by Lambda.
"""

from typing import Any

from pydantic import ValidationError

from greenrail.arn import account_of
from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows.watch import parse_start, start
from greenrail.observability import Observability
from greenrail.policies.training import POLICY, TrainingPolicy
from greenrail.settings import settings

observe = Observability("greenrail-training-watch-start")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        detail = parse_start(event)
    except ValidationError as exc:
        observe.malformed("malformed training job event", validation_problems(exc), "MalformedTrainingEvent")
        return {"started": False, "reason": "malformed or foreign event"}
    own = account_of(getattr(context, "invoked_function_arn", None))
    result = start(detail, load_section(POLICY, TrainingPolicy), str(settings().training_watch_arn), own)
    if result["started"]:
        observe.count("TrainingWatchStarted")
    else:
        observe.logger.info(result["reason"], extra={"job": detail.TrainingJobName})
    return result
