"""Digest: every five minutes, send the digests whose window is due (greenrail.digest).

Invoked by an EventBridge Scheduler schedule. ``{"flush_all": true}`` sends every pending
digest now, whatever its window (before changing the ``notifications`` settings, or at the end
of the local demo). A digest that could not be sent is released and tried again on the next
run; it is logged and counted (``DigestsFailed``), not raised: the next run is the retry.
Any other input (``flush_all`` not a boolean, another field, not an object) is malformed:
logged (field names only), counted, nothing sent.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from greenrail.config import NotificationsConfig
from greenrail.digest import flush
from greenrail.document import notifications_config
from greenrail.events import validation_problems
from greenrail.observability import Observability
from greenrail.settings import settings

observe = Observability("greenrail-digest")


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flush_all: StrictBool = False


@observe.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    table = settings().digest_table
    if not table:
        observe.logger.error("GREENRAIL_DIGEST_TABLE is not set: no digest to send")
        return {"status": "unconfigured"}
    try:
        flush_all = _Input.model_validate(event).flush_all
    except ValidationError as exc:
        return observe.malformed("malformed digest input: nothing sent", validation_problems(exc))
    config = notifications_config() or NotificationsConfig()  # owners unknown: the default channels
    result = flush(config, table, None if flush_all else datetime.now(UTC))
    observe.count("DigestsSent", len(result.sent))
    if result.failed:
        observe.count("DigestsFailed", len(result.failed))
    observe.logger.info("digests sent", extra={"sent": len(result.sent), "failed": len(result.failed)})
    return {"status": "flushed", "sent": [{"policy": d.group.policy, "scope": d.group.scope,
                                           "decisions": d.decisions} for d in result.sent],
            "failed": [{"policy": g.policy, "scope": g.scope, "error": why} for g, why in result.failed]}
