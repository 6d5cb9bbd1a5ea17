"""CarbonRecordFunction: a training job finished -> its carbon record on its Model Card; a job
started -> its pre-flight carbon estimate.

Trigger: EventBridge ``aws.sagemaker`` / ``SageMaker Training Job State Change`` (terminal
statuses, and InProgress). The whole event is validated before anything is read or written; the
work is ``greenrail.flows.event.training_job_ended``, once per job ARN and status, or
``training_job_started``, once per job.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenrail.document import load_section
from greenrail.events import validation_problems
from greenrail.flows.event import training_job_ended, training_job_started
from greenrail.observability import Observability
from greenrail.policies.carbon import POLICY, CarbonPolicy
from greenrail.validation import AccountId, EventId, Region, TrainingJobName

observe = Observability("greenrail-carbon-record")


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    TrainingJobName: TrainingJobName
    TrainingJobStatus: Literal["Completed", "Failed", "Stopped", "InProgress"]  # the rules' statuses: else forged


class TrainingJobEnded(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: EventId | None = None
    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Training Job State Change"] = Field(alias="detail-type")
    account: AccountId | None = None  # absent: this account; anything but twelve digits: malformed
    region: Region | None = None
    detail: _Detail


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        ended = TrainingJobEnded.model_validate(event)
    except ValidationError as exc:
        return {**observe.malformed("malformed training job event: ignored", validation_problems(exc), "MalformedEvents"),
                "status": "ignored"}
    name = ended.detail.TrainingJobName
    observe.logger.append_keys(training_job=name, event_id=ended.id)
    policy = load_section(POLICY, CarbonPolicy)
    if ended.detail.TrainingJobStatus == "InProgress":
        result = training_job_started(event["detail"], ended.account, ended.id, policy, context)
    else:
        result = training_job_ended(name, ended.account, ended.id, policy, context)
    for metric in result.pop("metrics", []):
        observe.count(metric)
    observe.measure(result.pop("measurements", {}), result.pop("metadata", {}))
    return result
