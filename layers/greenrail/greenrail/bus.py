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
    """Some decisions could not be put on the bus (raised so the invocation is retried).

    The message names the policies and error codes only: it is logged, and a resource may be an
    object key (personal data); ``failed`` holds (resource, error code) pairs for the caller."""

    def __init__(self, message: str, failed: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.failed = failed or []


def bus_name() -> str:
    return settings().bus_name


@calls("events:PutEvents", central=True)
def publish(decisions: Iterable[Decision]) -> int:
    """Put each decision on the bus; returns how many were accepted, raises if any failed."""
    pending = list(decisions)
    entries = [decision.to_event_entry(bus_name()) for decision in pending]
    failed: list[tuple[str, str]] = []
    codes: set[str] = set()
    for start in range(0, len(entries), PUT_EVENTS_BATCH):
        batch = entries[start : start + PUT_EVENTS_BATCH]
        response = client("events").put_events(Entries=batch)
        for decision, result in zip(pending[start : start + PUT_EVENTS_BATCH], response.get("Entries", []),
                                    strict=False):
            if result.get("ErrorCode"):
                failed.append((decision.resource, str(result["ErrorCode"])))
                codes.add(f"{decision.policy}: {result['ErrorCode']}")
    if failed:
        raise PublishError(f"{len(failed)} decision(s) not accepted by the bus ({', '.join(sorted(codes))})", failed)
    from greenrail.observability import emit_decision_metrics

    emit_decision_metrics(pending)  # the dashboard's decisions, actions and savings per policy
    return len(entries)
