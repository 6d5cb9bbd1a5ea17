"""Training watch starter: ``SageMaker Training Job State Change`` (InProgress) -> one watch execution.

The execution is named from the job (``training-<job>``; ``training-<account>-<job>`` for a job
in another account of an Organization, whose name may repeat one of ours), so a duplicate event (SageMaker may send several per
change) cannot start a second watch: Step Functions answers ``ExecutionAlreadyExists`` (or, for
a running execution with the same input, returns it), and both are no-ops here. Events with
missing fields are logged and counted (``MalformedTrainingEvent``) and skipped: retrying cannot
help. Throttling is retried by botocore (standard mode); what still fails raises, so the
asynchronous invocation is retried by Lambda.
"""

import hashlib
import json
import math
import os
import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenrail.aws import client, error_code
from greenrail.config import load_policy
from greenrail.decision import Mode
from greenrail.events import validation_problems

logger = Logger(service="greenrail-training-watch-start")
metrics = Metrics(namespace="Greenrail", service="greenrail-training-watch-start")
copy_config_to_registered_loggers(source_logger=logger, include={"greenrail"})

EXECUTION_NAME_MAX = 80  # StartExecution: name is 1-80 characters
# Step Functions execution names: no whitespace, brackets, wildcards, punctuation or control
# characters; ASCII letters, digits, '-' and '_' are always safe.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# A Standard execution's history holds at most 25,000 events; one watch turn writes about 11
# (Wait, Task, Choice, Pass entered/exited, Lambda scheduled/started/succeeded), so the loop
# stops well before that. Beyond it the job is left to `greenrail scan --policies training`.
MAX_ITERATIONS_CAP = 2_000
DEFAULT_MAX_RUNTIME_SECONDS = 86_400


class ResourceConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")
    InstanceType: str | None = None
    InstanceCount: int | None = None


class TrainingJobDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    TrainingJobName: str = Field(min_length=1, max_length=63)
    TrainingJobArn: str = Field(pattern=r"^arn:aws[a-z-]*:sagemaker:")
    TrainingJobStatus: str
    StoppingCondition: dict[str, Any] = Field(default_factory=dict)


def execution_name(job_name: str, account: str | None = None) -> str:
    """``training-<job>`` for a job in Greenrail's own account, ``training-<account>-<job>`` for
    one in another (member) account — job names are unique only per account and region — made
    safe; a hash keeps it unique if anything had to change."""
    raw = f"{account}-{job_name}" if account else job_name
    safe = _UNSAFE.sub("-", raw)
    name = f"training-{safe}"
    if safe != raw or len(name) > EXECUTION_NAME_MAX:
        digest = hashlib.sha256(f"{account or ''}:{job_name}".encode()).hexdigest()[:10]
        name = f"{name[: EXECUTION_NAME_MAX - 11]}-{digest}"
    return name


def _account_of(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def foreign_account(detail: TrainingJobDetail, context: Any) -> str | None:
    """The job's account when it is not the function's own (read from the invoked function ARN,
    no STS call), else None."""
    job_account = _account_of(detail.TrainingJobArn)
    own = _account_of(getattr(context, "invoked_function_arn", None))
    if not own:  # cannot tell: keep the single-account name
        return None
    return job_account if job_account and job_account != own else None


def watch_input(detail: TrainingJobDetail, interval_minutes: int) -> dict[str, Any]:
    """The execution input: deterministic, so a duplicate start is recognised as one."""
    interval = interval_minutes * 60
    try:
        max_runtime = int(detail.StoppingCondition.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS))
    except (TypeError, ValueError):
        max_runtime = DEFAULT_MAX_RUNTIME_SECONDS
    iterations = min(MAX_ITERATIONS_CAP, math.ceil(max_runtime / interval) + 4)
    return {
        "job_name": detail.TrainingJobName,
        "job_arn": detail.TrainingJobArn,
        "interval_seconds": interval,
        "max_iterations": iterations,
        "iteration": 0,
        "last": {
            "done": False,
            "status": "InProgress",
            "action": "none",
            "applied": False,
            "published_action": "none",
        },
    }


DETAIL_TYPE = "SageMaker Training Job State Change"


def _parse(event: Any) -> TrainingJobDetail | None:
    if isinstance(event, dict) and (event.get("source"), event.get("detail-type")) != (
        "aws.sagemaker",
        DETAIL_TYPE,
    ):
        logger.warning("not a SageMaker training job event", extra={"event_id": _event_id(event)})
        return None
    try:
        return TrainingJobDetail.model_validate(event["detail"])
    except (ValidationError, KeyError, TypeError) as exc:
        logger.error(
            "malformed training job event",
            extra={"event_id": _event_id(event), "problems": validation_problems(exc)},
        )
        metrics.add_metric(name="MalformedTrainingEvent", unit=MetricUnit.Count, value=1)
        return None


def _event_id(event: Any) -> Any:
    return event.get("id") if isinstance(event, dict) else None


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = _parse(event)
    if detail is None:
        return {"started": False, "reason": "malformed or foreign event"}
    if detail.TrainingJobStatus != "InProgress":
        return {"started": False, "reason": f"status {detail.TrainingJobStatus} is not watched"}
    policy = load_policy().training
    if policy.mode is Mode.OFF:
        return {"started": False, "reason": "training policy is off"}
    name = execution_name(detail.TrainingJobName, foreign_account(detail, context))
    try:
        response = client("stepfunctions").start_execution(
            stateMachineArn=os.environ["GREENRAIL_TRAINING_WATCH_ARN"],
            name=name,
            input=json.dumps(watch_input(detail, policy.check_interval_minutes), sort_keys=True),
        )
    except Exception as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            logger.info("watch already started", extra={"execution": name, "job": detail.TrainingJobName})
            return {"started": False, "reason": "already watched", "execution_name": name}
        raise
    metrics.add_metric(name="TrainingWatchStarted", unit=MetricUnit.Count, value=1)
    return {"started": True, "execution_name": name, "execution_arn": response["executionArn"]}
