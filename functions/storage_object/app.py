"""Storage policy for one new S3 object (S3 ``Object Created`` via EventBridge).

Parse the event, read the policy, call ``greenrail.flows.event.object_created``, return. The
work runs once per object state, so a duplicate or older event causes no second action.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from greenrail.document import load_section
from greenrail.events import S3ObjectCreated, validation_problems
from greenrail.flows.event import object_created
from greenrail.observability import Observability
from greenrail.policies.storage import POLICY, StoragePolicy, object_log_keys

observe = Observability("greenrail-storage")


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        created = S3ObjectCreated.model_validate(event)
    except ValidationError as exc:
        return observe.malformed("malformed S3 Object Created event", validation_problems(exc))
    observe.logger.append_keys(bucket=created.detail.bucket.name, event_id=created.id)
    policy = load_section(POLICY, StoragePolicy)  # a bad document raises: retried, then kept in the DLQ
    observe.logger.append_keys(**object_log_keys(created.detail.object.key, policy))  # keys may be personal data
    result = object_created(created.detail.bucket.name, created.detail.object.key, created.account,
                            created.region, created.id, policy, context)
    for metric in result.pop("metrics"):
        observe.count(metric)
    return result
