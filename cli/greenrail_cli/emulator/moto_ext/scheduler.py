"""moto extension: EventBridge Scheduler one-time schedules fire when they are due.

moto 5.2.5 stores schedules but never runs them, and ``CreateSchedule`` in a group that does not
exist fails with a bare ``KeyError`` (EventBridge Scheduler: ``ResourceNotFoundException``).
This module adds:

* ``CreateSchedule`` in a missing group: ``ResourceNotFoundException``;
* :func:`run_due_schedules`: every ``ENABLED`` one-time schedule (``at(yyyy-mm-ddThh:mm:ss)`` in
  its ``ScheduleExpressionTimezone``) whose time has come at ``now`` (the emulator passes its
  clock) runs its target once, as the Scheduler would:

  - universal targets ``arn:aws:scheduler:::aws-sdk:<service>:<apiAction>`` (for instance
    ``...:aws-sdk:sagemaker:startPipelineExecution``) call that API with the target's ``Input``
    (the API's own PascalCase parameters), with credentials of the target's ``RoleArn``
    (assumed through STS, so the call lands in the role's account). The role must exist and one
    of its policies must allow ``<service>:<Action>``, or the invocation fails
    (``AccessDeniedException``), as it would on AWS;
  - Lambda targets are queued on the emulator's runtime, Step Functions targets start an
    execution; both get the ``Input`` as their payload;
  - a failed invocation goes to the target's ``DeadLetterConfig`` queue (SQS) when it has one
    and the role allows ``sqs:SendMessage``, with the Scheduler's error attributes; there are no
    retries (in-process failures do not heal);
  - afterwards a schedule with ``ActionAfterCompletion: DELETE`` is deleted; any other is left as
    it is and never fires again for the same expression.

  Each firing is recorded (:class:`FiredSchedule`, ``hooks.fired_schedules``).

Recurring expressions (``rate()``, ``cron()``) are not run here: the emulator fires the
template's own schedules on demand (``Emulator.run_schedule``). :func:`apply` is idempotent.
"""

from __future__ import annotations

import fnmatch
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIVERSAL = re.compile(r"^arn:aws[a-z-]*:scheduler:::aws-sdk:([a-z0-9-]+):([a-zA-Z0-9]+)$")
# SDK service names whose IAM prefix or boto3 client name differ.
_IAM_PREFIX = {"sfn": "states"}
_BOTO3_NAME = {"sfn": "stepfunctions"}
_FIRED_MARK = "greenrail_fired_expression"

_applied = False


@dataclass
class FiredSchedule:
    """One invocation of a schedule's target by :func:`run_due_schedules`."""

    name: str
    group: str
    arn: str
    expression: str
    target_arn: str
    input: Any  # the target's Input, parsed when it is JSON
    fired_at: datetime  # the clock's time when it fired
    due_at: datetime
    result: Any = None  # the API's response (universal targets), without ResponseMetadata
    error: str | None = None  # "<Code>: <message>" when the invocation failed
    deleted: bool = False  # ActionAfterCompletion DELETE
    dead_lettered: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def due_time(schedule_expression: str, timezone: str | None) -> datetime | None:
    """When a one-time schedule is due (aware UTC), or None for any other expression."""
    match = _AT.match(schedule_expression.strip())
    if match is None:
        return None
    local = datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC"))
    return local.astimezone(UTC)


class TargetError(Exception):
    """An invocation failure with the error code the Scheduler would record."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _error(exc: Exception) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    if isinstance(exc, TargetError):
        return exc.code, exc.message
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return str(error.get("Code", "ClientError")), str(error.get("Message", exc))
    return type(exc).__name__, str(exc)


def _action_allowed(document: Any, action: str) -> bool | None:
    """True if a statement allows ``action``, False if one denies it, None if none mentions it."""
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    verdict: bool | None = None
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        patterns = [actions] if isinstance(actions, str) else list(actions)
        if any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in patterns):
            if statement.get("Effect", "Allow") == "Deny":
                return False
            verdict = True
    return verdict


def role_allows(role_arn: str, action: str) -> tuple[bool, str]:
    """Whether the IAM role (in moto) exists and its policies allow ``action``; why not, if not.
    Inline and attached managed policies count; resources and conditions are not evaluated."""
    from moto.iam.models import iam_backends

    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam":
        return False, f"the target has no role ({role_arn!r})"
    try:
        role = iam_backends[parts[4]]["aws"].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - moto's NotFoundException
        return False, f"role {role_arn} does not exist"
    documents: list[Any] = list(role.policies.values())
    for policy in role.managed_policies.values():
        documents += [v.document for v in policy.versions if v.is_default]
    verdicts = [_action_allowed(document, action) for document in documents]
    if False in verdicts or True not in verdicts:
        return False, f"{role_arn} is not authorized to perform: {action}"
    return True, ""


def _session(role_arn: str, region: str) -> Any:
    import boto3

    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=role_arn, RoleSessionName="greenrail-emulator-scheduler")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"], region_name=region,
    )


def _invoke_universal(service: str, api_action: str, role_arn: str, payload: Any, region: str) -> Any:
    from botocore import xform_name

    action = api_action[0].upper() + api_action[1:]
    allowed, why = role_allows(role_arn, f"{_IAM_PREFIX.get(service, service)}:{action}")
    if not allowed:
        raise TargetError("AccessDeniedException", why)
    client = _session(role_arn, region).client(_BOTO3_NAME.get(service, service))
    response = getattr(client, xform_name(action))(**(payload or {}))
    response.pop("ResponseMetadata", None)
    return response


def _invoke(target: dict[str, Any], payload: Any, region: str) -> Any:
    from moto.utilities.arns import parse_arn

    from greenrail_cli.emulator.moto_ext import hooks

    arn = str(target["Arn"])
    universal = _UNIVERSAL.match(arn)
    if universal:
        return _invoke_universal(universal.group(1), universal.group(2), str(target.get("RoleArn", "")),
                                 payload, region)
    service = parse_arn(arn).service
    if service == "lambda":
        if hooks.runtime is None or hooks.runtime.find(arn) is None:
            raise TargetError("ResourceNotFoundException", f"no emulated function {arn}")
        hooks.runtime.invoke_async(arn, payload)
        return None
    if service == "states":
        import boto3

        return boto3.client("stepfunctions", region_name=region).start_execution(
            stateMachineArn=arn, name=str(uuid.uuid4()), input=json.dumps(payload))["executionArn"]
    raise TargetError("ValidationException", f"the emulator's Scheduler cannot invoke {arn}")


def _dead_letter(target: dict[str, Any], schedule: Any, raw_input: str, code: str, message: str, region: str) -> bool:
    queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not queue_arn or not role_allows(str(target.get("RoleArn", "")), "sqs:SendMessage")[0]:
        return False  # the Scheduler sends dead letters with the schedule's role, or drops them
    import boto3

    sqs = boto3.client("sqs", region_name=queue_arn.split(":")[3] or region)
    url = sqs.get_queue_url(QueueName=queue_arn.split(":")[5], QueueOwnerAWSAccountId=queue_arn.split(":")[4])["QueueUrl"]
    attributes = {
        "ERROR_CODE": code, "ERROR_MESSAGE": message[:256] or code,
        "SCHEDULE_ARN": schedule.arn, "TARGET_ARN": str(target["Arn"]), "RETRY_ATTEMPTS": "0",
        "EXECUTION_ID": uuid.uuid4().hex,
    }
    sqs.send_message(QueueUrl=url, MessageBody=raw_input or "{}", MessageAttributes={
        key: {"DataType": "String", "StringValue": value} for key, value in attributes.items()})
    return True


def run_due_schedules(now: datetime, account_id: str | None = None, region: str = "us-east-1") -> list[FiredSchedule]:
    """Fire every one-time schedule of the account and region that is due at ``now``; see the
    module's docstring. Returns what fired, in due-time order (also kept in ``hooks.fired_schedules``)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.scheduler.models import scheduler_backends

    from greenrail_cli.emulator.moto_ext import hooks

    backend = scheduler_backends[account_id or str(DEFAULT_ACCOUNT_ID)][region]
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    due: list[tuple[datetime, Any]] = []
    for group in list(backend.schedule_groups.values()):
        for schedule in list(group.schedules.values()):
            when = due_time(schedule.schedule_expression, schedule.schedule_expression_timezone)
            if (when is None or when > now or schedule.state != "ENABLED"
                    or getattr(schedule, _FIRED_MARK, None) == schedule.schedule_expression):
                continue
            due.append((when, schedule))
    fired: list[FiredSchedule] = []
    for when, schedule in sorted(due, key=lambda item: item[0]):
        target = dict(schedule.target)
        raw_input = target.get("Input") or ""
        try:
            payload: Any = json.loads(raw_input) if raw_input else {}
        except ValueError:
            payload = raw_input
        record = FiredSchedule(schedule.name, schedule.group_name, schedule.arn, schedule.schedule_expression,
                               str(target["Arn"]), payload, now, when)
        try:
            record.result = _invoke(target, payload, region)
        except Exception as exc:  # noqa: BLE001 - the Scheduler records any target failure
            code, message = _error(exc)
            record.error = f"{code}: {message}"
            record.dead_lettered = _dead_letter(target, schedule, raw_input, code, message, region)
        setattr(schedule, _FIRED_MARK, schedule.schedule_expression)
        if (schedule.action_after_completion or "NONE") == "DELETE":
            backend.delete_schedule(schedule.group_name, schedule.name)
            record.deleted = True
        hooks.fired_schedules.append(record)
        fired.append(record)
    return fired


def apply() -> None:
    """Patch moto's Scheduler backend (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.scheduler import models
    from moto.scheduler.exceptions import ScheduleGroupNotFound

    original_create = models.EventBridgeSchedulerBackend.create_schedule

    def create_schedule(self: Any, *args: Any, **kwargs: Any) -> Any:
        group = kwargs.get("group_name") or "default"
        if group not in self.schedule_groups:
            raise ScheduleGroupNotFound(group)
        return original_create(self, *args, **kwargs)

    models.EventBridgeSchedulerBackend.create_schedule = create_schedule  # type: ignore[method-assign]
    _applied = True
