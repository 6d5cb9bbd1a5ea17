"""Step Functions: ``Wait`` states advance the emulator's clock instead of sleeping."""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

from greenrail_cli.emulator.moto_ext import hooks


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    if hooks.clock is not None:
        hooks.clock.advance(max(0, int(wait_seconds)))


def apply() -> None:
    wait_function.WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
