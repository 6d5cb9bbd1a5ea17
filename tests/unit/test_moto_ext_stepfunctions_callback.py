"""The emulator's ``.waitForTaskToken``: it waits on the emulator's clock, never on the wall clock."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from greenrail_cli.emulator.clock import Clock
from greenrail_cli.emulator.moto_ext import hooks
from greenrail_cli.emulator.moto_ext.stepfunctions import _wait_for_task_token


class Endpoint:
    """A callback endpoint as moto's interpreter has one: an outcome once notified."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.outcome: Any = None

    def notify(self, outcome: Any) -> None:
        self.outcome = outcome
        self.event.set()

    def wait(self, timeout: float | None = None) -> Any:
        self.event.wait(timeout)
        return self.outcome


@pytest.fixture
def clock() -> Any:
    saved = hooks.clock, getattr(hooks, "runtime", None)
    hooks.clock, hooks.runtime = Clock(), None
    try:
        yield hooks.clock
    finally:
        hooks.clock, hooks.runtime = saved


def wait(seconds: int, endpoint: Endpoint) -> Any:
    def never(self: Any, timeout: int, callback: Any) -> Any:
        raise AssertionError("the wall clock was used")

    return _wait_for_task_token(never)(None, seconds, endpoint)


def test_without_a_callback_it_times_out_on_the_emulator_clock(clock: Clock) -> None:
    started = time.monotonic()
    assert wait(3600, Endpoint()) is None
    assert clock.offset.total_seconds() == 3600 and time.monotonic() - started < 5


def test_a_callback_set_off_by_the_clock_ends_the_wait_then(clock: Clock) -> None:
    endpoint = Endpoint()

    def three_minutes_on(_: int) -> None:  # what an event's function does: SendTaskSuccess
        if clock.offset.total_seconds() >= 180:
            endpoint.notify("resumed")

    clock.listeners.append(three_minutes_on)
    assert wait(3600, endpoint) == "resumed"
    assert clock.offset.total_seconds() == 180
