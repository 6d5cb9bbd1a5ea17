"""``greenrail scan``: every registered policy that can scan, on demand, in this account and region."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from greenrail.decision import Decision, Mode
from greenrail.registry import policies


def scannable() -> list[str]:
    """The names of the policies ``greenrail scan`` can run (those with a ``scan``)."""
    return [d.name for d in policies() if d.scan is not None]


def scan(names: Iterable[str], document: Any, mode: Mode) -> list[Decision]:
    """Each named policy's decisions about the estate now (applied in enforce mode, within the
    blast radius counted in this process)."""
    wanted = set(names)
    decisions: list[Decision] = []
    for definition in policies():
        if definition.name in wanted and definition.scan is not None:
            decisions.extend(definition.scan(getattr(document, definition.name), mode))
    return decisions
