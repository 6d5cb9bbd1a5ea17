"""The emulator's clock: Wait states advance it instead of sleeping, and call its listeners."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)
        self.listeners: list[Callable[[int], None]] = []

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: int) -> None:
        self.offset += timedelta(seconds=seconds)
        for listener in list(self.listeners):
            listener(seconds)
