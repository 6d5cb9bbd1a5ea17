"""Greenrail's local emulator: the whole application on an embedded moto, no AWS and no Docker.

    with Emulator(policy_text) as emulator:      # moto started, template.yaml deployed
        emulator.deliver(event)                   # through the template's EventBridge rules
        emulator.decisions, emulator.notifications, emulator.findings

``deliver`` hands an event to the rules of the default bus exactly as EventBridge would; the
matching targets run (Lambda handlers in-process, Step Functions on moto's interpreter), the
decisions they put on Greenrail's bus reach the notifier and the auditor the same way, and
``deliver`` returns once nothing is left to run.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from greenrail.decision import DECISION_DETAIL_TYPE, Decision
from greenrail_cli.emulator.clock import Clock
from greenrail_cli.emulator.deploy import Stack, deploy
from greenrail_cli.emulator.runtime import LambdaRuntime

if TYPE_CHECKING:
    from greenrail_cli.emulator.moto_ext.scheduler import FiredSchedule

ACCOUNT = "123456789012"
REGION = "us-east-1"

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "emulator",
    "AWS_SECRET_ACCESS_KEY": "emulator",
    "AWS_SESSION_TOKEN": "emulator",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "MOTO_ALLOW_NONEXISTENT_REGION": "true",
}
_CLEARED = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "GREENRAIL_POLICY_FILE", "GREENRAIL_ACCOUNT_ID")


def template_path() -> Path:
    """The SAM template to deploy: ``GREENRAIL_TEMPLATE``, else ``template.yaml`` in the working
    directory (``make demo`` runs from the repository's root). Never guessed from this file's place:
    the package may be installed anywhere."""
    path = Path(os.environ.get("GREENRAIL_TEMPLATE", "template.yaml"))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no SAM template here; run from the repository's root or set GREENRAIL_TEMPLATE")
    return path.resolve()


class Emulator:
    def __init__(self, policy: str | None = None, template: Path | None = None,
                 parameters: dict[str, str] | None = None, stack_name: str = "greenrail",
                 prepare: Any = None):
        self.policy_text = policy
        self.template = template or template_path()
        self.parameters = dict(parameters or {})
        self.stack_name = stack_name
        self.prepare = prepare  # called with the emulator after moto starts, before deploying
        self.runtime = LambdaRuntime()
        self.clock = Clock()
        self.stack: Stack | None = None
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto import mock_aws

        from greenrail import aws
        from greenrail_cli.emulator import moto_ext

        for key in (*_FAKE_CREDENTIALS, *_CLEARED, "GREENRAIL_POLICY_CACHE_SECONDS"):
            self._saved_env[key] = os.environ.get(key)
        for key in _CLEARED:
            os.environ.pop(key, None)
        os.environ.update(_FAKE_CREDENTIALS)
        # The policy is read from SSM on every invocation, so a test can change it mid-run.
        os.environ["GREENRAIL_POLICY_CACHE_SECONDS"] = "0"
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                                      "lambda": {"use_docker": False}})
        self._mock.start()
        moto_ext.apply(self.runtime, self.clock)
        aws.reset_clients()
        if self.prepare is not None:
            self.prepare(self)
        if self.policy_text is not None:
            self.parameters["PolicyDocument"] = self.policy_text
        self.stack = deploy(self.template, self.runtime, ACCOUNT, REGION, self.stack_name, self.parameters)
        self.runtime.base_environment = {"GREENRAIL_POLICY_CACHE_SECONDS": "0"}

    def stop(self) -> None:
        from greenrail import aws

        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        aws.reset_clients()

    # ------------------------------------------------------------ events in
    def deliver(self, event: dict[str, Any], bus: str = "default") -> None:
        """Deliver one EventBridge event to the rules of ``bus`` and run everything it causes."""
        from moto.events.models import events_backends

        backend = events_backends[ACCOUNT][REGION]
        event = copy.deepcopy(event)
        event.setdefault("account", ACCOUNT)
        event.setdefault("region", REGION)
        for rule in list(backend.event_buses[bus].rules.values()):
            rule.send_to_targets(cast(Any, event), transform_input=True)
        self.drain()

    def set_policy(self, text: str) -> None:
        from greenrail.aws import client

        assert self.stack is not None
        name = self.stack.physical["PolicyParameter"]
        client("ssm").put_parameter(Name=name, Value=text, Type="String", Overwrite=True)

    def run_schedule(self, logical_id: str) -> None:
        """Fire one of the template's schedules now (EventBridge Scheduler's payload)."""
        assert self.stack is not None
        schedule = self.stack.schedules[logical_id]
        target = schedule["Target"]
        payload = json.loads(target["Input"]) if "Input" in target else {}
        if ":states:" in target["Arn"]:
            import uuid

            from greenrail.aws import client

            client("stepfunctions").start_execution(stateMachineArn=target["Arn"], name=str(uuid.uuid4()),
                                                    input=json.dumps(payload))
        else:
            self.runtime.invoke_async(target["Arn"], payload)
        self.drain()

    def flush_digests(self) -> dict[str, Any]:
        """Send every digest the notifier is holding now (greenrail.digest), instead of waiting for
        its window: the digest function with ``{"flush_all": true}``. Returns its result."""
        assert self.stack is not None
        result: dict[str, Any] = self.runtime.invoke(self.stack.physical["DigestFunction"], {"flush_all": True})
        self.drain()
        return result

    def run_due_schedules(self) -> list[FiredSchedule]:
        """Fire the one-time EventBridge Scheduler schedules due on the emulator's clock (e.g. after
        ``clock.advance``), then run what they caused; returns what fired
        (``moto_ext.scheduler.FiredSchedule``: target, input, result or error, deleted)."""
        from greenrail_cli.emulator.moto_ext import scheduler

        fired = scheduler.run_due_schedules(self.clock.now(), ACCOUNT, REGION)
        self.drain()
        return list(fired)

    @property
    def fired_schedules(self) -> list[FiredSchedule]:
        """Every schedule fired by :meth:`run_due_schedules` so far, in order."""
        from greenrail_cli.emulator.moto_ext import hooks

        return list(hooks.fired_schedules)

    def drain(self, timeout_seconds: float = 120.0) -> None:
        """Run queued invocations and wait for running workflows until nothing is left."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            ran = self.runtime.run_pending()
            running = self._running_executions()
            if not ran and not running and not self.runtime.pending():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"emulator still busy after {timeout_seconds}s: {running} execution(s)")
            if running and not self.runtime.pending():
                time.sleep(0.02)

    def _running_executions(self) -> int:
        from greenrail.aws import client

        sfn = client("stepfunctions")
        count = 0
        for machine in sfn.list_state_machines().get("stateMachines", []):
            count += len(sfn.list_executions(stateMachineArn=machine["stateMachineArn"],
                                             statusFilter="RUNNING").get("executions", []))
        return count

    # ------------------------------------------------------------ results out
    def register_stack(self) -> None:
        """Answer ``DescribeStacks`` for the deployed stack with its outputs (the bus, the state
        table, the decision log), so the CLI finds the deployment as it would in AWS."""
        from greenrail_cli.emulator.deploy import register_outputs

        assert self.stack is not None
        register_outputs(self.stack)

    def physical(self, logical_id: str) -> str:
        assert self.stack is not None
        return self.stack.physical[logical_id]

    @property
    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """Every event a rule matched, with its bus, in order."""
        from greenrail_cli.emulator.moto_ext import hooks

        return list(hooks.event_log)

    @property
    def decisions(self) -> list[Decision]:
        """Each decision put on Greenrail's bus, once (two rules match each)."""
        bus = self.physical("DecisionBus")
        seen: set[str] = set()
        result = []
        for bus_name, event in self.events:
            if bus_name == bus and event.get("detail-type") == DECISION_DETAIL_TYPE and event["id"] not in seen:
                seen.add(event["id"])
                result.append(Decision.from_event(event))
        return result

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """SNS messages published to the decision topic (subject, message, attributes)."""
        from moto.sns.models import sns_backends

        topic = sns_backends[ACCOUNT][REGION].topics[self.physical("DecisionTopic")]
        result = []
        for _message_id, message, subject, attributes, _group in topic.sent_notifications:
            result.append({"subject": subject, "message": message, "attributes": attributes})
        return result

    @property
    def findings(self) -> list[dict[str, Any]]:
        from greenrail.aws import client

        securityhub = client("securityhub")
        findings: list[dict[str, Any]] = []
        for page in securityhub.get_paginator("get_findings").paginate():
            findings.extend(page["Findings"])
        return findings

    @property
    def dead_letters(self) -> list[tuple[str, Any, str]]:
        return list(self.runtime.dead_letters)
