"""Greenrail's extensions to moto: everything the emulator needs that moto 5.2.5 lacks.

This package is the one place where moto is changed. Each module patches one service and
documents the gap it fills (see DESIGN.md, "known gaps"); ``apply(runtime, clock)`` installs
them all, idempotently. Nothing outside the emulator imports this package.

* ``events``: rules deliver to Lambda, Step Functions and SNS targets (moto raises), keep the
  event's ``account``, and record every event put on a bus.
* ``awslambda``: ``Invoke`` runs the function's real handler in-process (moto echoes input).
* ``s3``: S3 EventBridge notifications have the documented detail shape and go to the default
  bus only.
* ``s3control``: S3 Batch Operations CreateJob/DescribeJob/UpdateJobStatus; confirmed jobs run
  (object tags applied, completion report written), with injectable task failures.
* ``stepfunctions``: ``Wait`` states advance the emulator's clock instead of sleeping; Distributed
  Map ``ItemBatcher``, ``ItemReader`` ``InputType: MANIFEST`` (S3 Inventory), tolerated failures
  and ``ResultWriter`` result files.
* ``sagemaker_training``: InProgress training jobs and StopTrainingJob.
* ``sagemaker_tuning`` (applied by ``sagemaker_training``): InProgress tuning jobs with their
  training jobs (ListTrainingJobsForHyperParameterTuningJob, StopHyperParameterTuningJob, Search),
  InProgress processing jobs and StopProcessingJob, warm pools (WarmPoolStatus, UpdateTrainingJob).
* ``sagemaker_monitoring``: ListMonitoringExecutions; seeded Model Monitor executions (report in
  S3, processing job, Processing Job State Change event).
* ``sagemaker_pipelines``: StartPipelineExecution idempotency, ListPipelineExecutions filters
  and sort, ListPipelineExecutionSteps; seeded executions and Training steps.
* ``sagemaker_studio``: UpdateDomain, user profiles, spaces and apps (statuses on the clock,
  activity timestamps, tags), notebook instances that stop and send state change events, and
  CloudTrail events for CreateApp, CreateSpace, UpdateDomain and UpdateSpace.
* ``cloudwatch_alarms``: alarm state changes send ``CloudWatch Alarm State Change`` events.
* ``scheduler``: one-time EventBridge Scheduler schedules fire when due (``run_due_schedules``).
* ``firehose``: S3 delivery with dynamic partitioning, GZIP, an error prefix and retries while
  the bucket refuses writes (moto writes each batch as one plain object); rules deliver to it.
* ``sts``: AssumeRole refused for a role (moto lets anyone assume any role): a fault for tests.
* ``cloudwatch_metrics``: percentile statistics (``p99``) in GetMetricData, ``Values``/``Counts``
  stored once (moto stores one datum per count), and an indexed GetMetricData (moto's compares
  every datapoint with every query and period).
* ``sagemaker_endpoints``: Inference Recommender jobs (on the clock; seeded or generated
  results), UpdateEndpoint with blue/green traffic shifting, baking and auto-rollback on alarms,
  endpoint and endpoint deployment state change events; seeded variant traffic.
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

    s3control.reset()  # jobs and injected faults
    from greenrail_cli.emulator.moto_ext import firehose as _firehose
    from greenrail_cli.emulator.moto_ext import sts as _sts

    _firehose.reset()
    _sts.REFUSED.clear()
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
        sagemaker_studio,
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
    sagemaker_studio.apply()
    cloudwatch_alarms.apply()
    scheduler.apply()
    _firehose.apply()
    _sts.apply()
    from greenrail_cli.emulator.moto_ext import cloudwatch_metrics as _cloudwatch_metrics
    from greenrail_cli.emulator.moto_ext import sagemaker_endpoints as _sagemaker_endpoints

    _cloudwatch_metrics.apply()
    _sagemaker_endpoints.apply()
    try:
        from greenrail_cli.emulator.moto_ext import sagemaker_training
    except ImportError:  # pragma: no cover - present once the training policy lands
        pass
    else:
        sagemaker_training.apply()
    _applied = True
