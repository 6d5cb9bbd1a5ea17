"""Greenrail's extensions to moto: everything the emulator needs that moto 5.2.5 lacks.

This package is the one place where moto is changed. Each module patches one service and
documents the gap it fills (see DESIGN.md, "known gaps"); ``apply(runtime, clock)`` installs
them all, idempotently. Nothing outside the emulator imports this package.

* ``events``: rules deliver to Lambda, Step Functions and SNS targets (moto raises), keep the
  event's ``account``, and record every event put on a bus.
* ``awslambda``: ``Invoke`` runs the function's real handler in-process (moto echoes input).
* ``s3``: S3 EventBridge notifications have the documented detail shape and go to the default
  bus only.
* ``s3control``: S3 Batch Operations CreateJob/DescribeJob (stored, awaiting confirmation).
* ``stepfunctions``: ``Wait`` states advance the emulator's clock instead of sleeping.
* ``sagemaker_training``: InProgress training jobs and StopTrainingJob.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greenrail_cli.emulator.clock import Clock
    from greenrail_cli.emulator.runtime import LambdaRuntime


class Hooks:
    """What the patches call into: the emulator's Lambda runtime, clock and event log."""

    runtime: LambdaRuntime | None = None
    clock: Clock | None = None
    event_log: list[tuple[str, dict]] = []


hooks = Hooks()
_applied = False


def apply(runtime: LambdaRuntime, clock: Clock) -> None:
    global _applied
    hooks.runtime = runtime
    hooks.clock = clock
    hooks.event_log = []
    if _applied:
        return
    from greenrail_cli.emulator.moto_ext import awslambda, events, s3, s3control, stepfunctions

    events.apply()
    awslambda.apply()
    s3.apply()
    s3control.apply()
    stepfunctions.apply()
    try:
        from greenrail_cli.emulator.moto_ext import sagemaker_training
    except ImportError:  # pragma: no cover - present once the training policy lands
        pass
    else:
        sagemaker_training.apply()
    _applied = True
