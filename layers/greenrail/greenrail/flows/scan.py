"""``greenrail scan``: every registered policy that can scan, on demand, in this account and region."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from greenrail.decision import Decision, Mode
from greenrail.registry import policies


def scannable() -> list[str]:
    """The names of the policies ``greenrail scan`` can run (those with a ``scan``)."""
    return [d.name for d in policies() if d.scan is not None]


@dataclass(frozen=True)
class PolicyScan:
    """One policy's scan: its decisions, or the error that ended it (then no decisions)."""

    policy: str
    decisions: list[Decision] = field(default_factory=list)
    error: Exception | None = None


def scan_each(names: Iterable[str], document: Any, mode: Mode) -> Iterator[PolicyScan]:
    """Each named policy's scan in turn, in registry order: one policy failing does not stop the
    next (the caller may stop iterating, e.g. when AWS cannot be reached at all)."""
    wanted = set(names)
    for definition in policies():
        if definition.name in wanted and definition.scan is not None:
            try:
                decisions = list(definition.scan(getattr(document, definition.name), mode))
            except Exception as exc:  # reported by the caller, with its AWS error code
                yield PolicyScan(definition.name, error=exc)
            else:
                yield PolicyScan(definition.name, decisions)
