"""Put an AWS service event on an account's default event bus, as the service itself would.

AWS services (SageMaker, CloudWatch, ...) send their events to the default bus of the account and
region of the resource, never to a custom bus; every rule of that bus sees them. Used by the
extensions that make moto send events it does not send.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any, cast


def service_event(source: str, detail_type: str, account: str, region: str, resources: list[str],
                  detail: dict[str, Any], time: datetime | None = None) -> dict[str, Any]:
    """An event in the envelope AWS services send to EventBridge (``time``: now by default)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": (time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def deliver(event: dict[str, Any]) -> bool:
    """Hand ``event`` (with its ``account`` and ``region``) to the rules of that account's default
    bus. Returns False when the account has no default bus yet (nothing to deliver to)."""
    from moto.events.models import events_backends

    bus = events_backends[event["account"]][event["region"]].event_buses.get("default")
    if bus is None:
        return False
    for rule in list(bus.rules.values()):
        # transform_input=False: moto's own renderer needs the "ingestion-time" its put_events adds,
        # which AWS does not deliver. The emulator's targets (events.py) apply InputTransformer
        # themselves; moto's own targets (SQS, logs) get the event as it is.
        rule.send_to_targets(cast(Any, copy.deepcopy(event)), transform_input=False)
    return True
