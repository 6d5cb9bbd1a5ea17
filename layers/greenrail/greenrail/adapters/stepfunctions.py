"""AWS Step Functions: starting Greenrail's own workflows and resuming their waiting Tasks. No thresholds live here."""

from __future__ import annotations

import json
from typing import Any

from greenrail.aws import client, error_code
from greenrail.permissions import calls


class AlreadyStarted(Exception):
    """An execution with that name exists (running or finished within 90 days): not started again."""


@calls("states:StartExecution", central=True)
def start_execution(state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    """Start a named execution (the name makes the start idempotent); returns its ARN."""
    try:
        response = client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload, sort_keys=True)
        )
    except Exception as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            raise AlreadyStarted(name) from exc
        raise
    return str(response["executionArn"])


@calls("states:DescribeExecution", central=True)
def execution_running(state_machine_arn: str, name: str) -> bool:
    """Whether the state machine's execution ``name`` exists and runs now."""
    arn = f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
    try:
        return client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    except Exception as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return False
        raise


@calls("states:SendTaskSuccess", central=True)
def send_task_success(token: str, output: dict[str, Any]) -> bool:
    """Resume the Task waiting for ``token`` (``.waitForTaskToken``) with ``output``; False when no
    Task waits for it any more (it timed out, or its execution ended): there is nothing to resume."""
    try:
        client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output, sort_keys=True))
    except Exception as exc:
        if error_code(exc) in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            return False
        raise
    return True
