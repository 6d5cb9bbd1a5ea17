"""Training evaluate: the watch workflow's Task — evaluate one job, stop it if the policy says so.

Input ``{"job_name", "job_arn", "previous_action"}``; output ``{"done", "status", "action",
"applied", "published_action"}``. A decision goes on Greenrail's bus only when it means
something (``greenrail.training_watch.should_publish``): a stop finding when it first appears
or its stop is applied, and the compliant decision when the job ends or recovers after one.
The workflow threads ``published_action`` back in as ``previous_action``.

Handled without raising: the job gone or not stoppable (a no-op decision), AccessDenied on
DescribeTrainingJob or StopTrainingJob (a decision with the error named, and the
``TrainingJobUnreadable`` metric for the former), and input that is not a watch turn's
(logged, ``InvalidWatchInput`` metric, ``done: true``: nothing to watch). Other errors raise:
the state machine retries the Task (Lambda's transient errors quickly, any other failure with a
longer back-off), then fails the watch. A stop whose publish failed is announced by the retry.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenrail.aws import acting_in
from greenrail.bus import publish
from greenrail.config import load_policy
from greenrail.events import validation_problems
from greenrail.training_watch import UNREADABLE, mark_announced, watch_step

logger = Logger(service="greenrail-training-evaluate")
metrics = Metrics(namespace="Greenrail", service="greenrail-training-evaluate")
copy_config_to_registered_loggers(source_logger=logger, include={"greenrail"})


class EvaluateInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_name: str = Field(min_length=1)
    job_arn: str | None = None
    previous_action: str = "none"


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = EvaluateInput.model_validate(event)
    except ValidationError as exc:
        # A retry cannot fix the input: end this watch cleanly (`greenrail scan` still evaluates the job on demand).
        logger.error(
            "invalid watch input: nothing to watch",
            extra={"problems": validation_problems(exc)},
        )
        metrics.add_metric(name="InvalidWatchInput", unit=MetricUnit.Count, value=1)
        previous = event.get("previous_action") if isinstance(event, dict) else None
        return {
            "done": True,
            "status": "InvalidInput",
            "action": "none",
            "applied": False,
            "published_action": previous if isinstance(previous, str) else "none",
        }
    policy = load_policy().training
    # The job's account is in its ARN: a member account's job is read and stopped through its role.
    account = request.job_arn.split(":")[4] if request.job_arn and request.job_arn.count(":") >= 5 else None
    with acting_in(account):
        step = watch_step(request.job_name, policy, request.previous_action, job_arn=request.job_arn)
    decision = step.decision
    logger.info(
        "training job evaluated",
        extra={"job": request.job_name, "decision": decision.scan_line(), "published": step.publish},
    )
    if step.publish:
        publish([decision])
        mark_announced(decision)
    if decision.figures.get("status") == UNREADABLE:
        metrics.add_metric(name="TrainingJobUnreadable", unit=MetricUnit.Count, value=1)
    if step.recovered:  # counted by the attempt that stopped it
        metrics.add_metric(name="TrainingStopAnnouncedLate", unit=MetricUnit.Count, value=1)
    elif decision.action == "stop":
        metrics.add_metric(name="TrainingStopDecision", unit=MetricUnit.Count, value=1)
        if decision.applied:
            metrics.add_metric(name="TrainingJobStopped", unit=MetricUnit.Count, value=1)
    return step.output()
