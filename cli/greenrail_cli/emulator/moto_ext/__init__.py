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
* ``sagemaker_monitoring``: ListMonitoringExecutions; seeded Model Monitor executions (report in
  S3, processing job, Processing Job State Change event).
* ``sagemaker_pipelines``: StartPipelineExecution idempotency, ListPipelineExecutions filters
  and sort, ListPipelineExecutionSteps; seeded executions and Training steps.
* ``cloudwatch_alarms``: alarm state changes send ``CloudWatch Alarm State Change`` events.
* ``scheduler``: one-time EventBridge Scheduler schedules fire when due (``run_due_schedules``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greenrail_cli.emulator.clock import Clock
    from greenrail_cli.emulator.runtime import LambdaRuntime


class Hooks:
    """What the patches call into: the emulator's Lambda runtime, clock and event log."""

    runtime: LambdaRuntime | None = None
    clock: Clock | None = None
    event_log: list[tuple[str, dict]] = []
    fired_schedules: list[Any] = []  # scheduler.FiredSchedule, in firing order


hooks = Hooks()
_applied = False


def apply(runtime: LambdaRuntime, clock: Clock) -> None:
    global _applied
    hooks.runtime = runtime
    hooks.clock = clock
    hooks.event_log = []
    hooks.fired_schedules = []
    # A new emulator is a new AWS: state the extensions keep outside moto's backends starts empty
    # too (moto resets its own), or an earlier run's Batch Operations job would answer this one's.
    from greenrail_cli.emulator.moto_ext import s3control

    s3control.JOBS.clear()
    if _applied:
        return
    from greenrail_cli.emulator.moto_ext import (
        awslambda,
        cloudwatch_alarms,
        events,
        s3,
        s3control,
        sagemaker_monitoring,
        sagemaker_pipelines,
        scheduler,
        stepfunctions,
    )

    events.apply()
    awslambda.apply()
    s3.apply()
    s3control.apply()
    stepfunctions.apply()
    sagemaker_monitoring.apply()
    sagemaker_pipelines.apply()
    cloudwatch_alarms.apply()
    scheduler.apply()
    try:
        from greenrail_cli.emulator.moto_ext import sagemaker_training
    except ImportError:  # pragma: no cover - present once the training policy lands
        pass
    else:
        sagemaker_training.apply()
    _applied = True
