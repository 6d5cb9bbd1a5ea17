"""Putting decisions on Greenrail's event bus (``GREENRAIL_BUS_NAME``).

Policies never call the notifier or the auditor: they publish decisions here, and rules on
the bus fan them out.
"""

from __future__ import annotations

from collections.abc import Iterable

from greenrail.aws import client
from greenrail.decision import Decision
from greenrail.permissions import calls
from greenrail.settings import settings

PUT_EVENTS_BATCH = 10  # PutEvents takes at most 10 entries per call


class PublishError(Exception):
    """Some decisions could not be put on the bus (raised so the invocation is retried)."""


def bus_name() -> str:
    return settings().bus_name


@calls("events:PutEvents", central=True)
def publish(decisions: Iterable[Decision]) -> int:
    """Put each decision on the bus; returns how many were accepted, raises if any failed."""
    entries = [decision.to_event_entry(bus_name()) for decision in decisions]
    failed: list[str] = []
    for start in range(0, len(entries), PUT_EVENTS_BATCH):
        batch = entries[start : start + PUT_EVENTS_BATCH]
        response = client("events").put_events(Entries=batch)
        for entry, result in zip(batch, response.get("Entries", []), strict=False):
            if result.get("ErrorCode"):
                failed.append(f"{entry['Resources'] or entry['Detail'][:80]}: {result['ErrorCode']}")
    if failed:
        raise PublishError(f"{len(failed)} decision(s) not accepted by the bus: {failed[:5]}")
    return len(entries)
