"""In-process Lambda runtime and asynchronous delivery queue for the emulator.

moto cannot run Lambda code without Docker (it only echoes the input). The emulator registers
each function of the deployed template here; invocations, whether from an EventBridge target,
a Step Functions Task or ``lambda.invoke``, run the function's real handler in this process
with the function's environment, as Lambda would: asynchronous invocations are retried
(``MaximumRetryAttempts``) and then sent to the function's dead-letter queue.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import queue
import sys
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    timeout_seconds: int = 60
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    memory_mb: int = 256
    timeout_seconds: int = 60
    max_retry_attempts: int = 2
    dead_letter_arn: str | None = None
    # What the function's role allows (from the deployed template); None: not enforced.
    granted_actions: frozenset[str] | None = None
    # What the member role allows (org/member-account.yaml), for a role that may assume it.
    member_actions: frozenset[str] | None = None


@dataclass
class Invocation:
    function: str
    event: Any
    ok: bool
    result: Any = None
    error: str | None = None
    attempt: int = 1


class LambdaRuntime:
    """Runs registered functions in this process, one at a time (a lock serialises them)."""

    def __init__(self) -> None:
        self.functions: dict[str, FunctionSpec] = {}
        self.invocations: list[Invocation] = []
        self.dead_letters: list[tuple[str, Any, str]] = []
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.RLock()
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.base_environment: dict[str, str] = {}
        self.override_environment: dict[str, str] = {}

    # ------------------------------------------------------------ registration
    def register(self, spec: FunctionSpec) -> None:
        self.functions[spec.name] = spec

    def find(self, name_or_arn: str) -> FunctionSpec | None:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        return self.functions.get(name)

    def _module(self, spec: FunctionSpec) -> ModuleType:
        module_file, _, _ = spec.handler.rpartition(".")
        key = f"{spec.code_dir}:{module_file}"
        if key not in self._modules:
            path = spec.code_dir / f"{module_file.replace('.', '/')}.py"
            module_name = f"greenrail_fn_{spec.logical_id}"
            loader_spec = importlib.util.spec_from_file_location(module_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise RuntimeError(f"cannot load handler {spec.handler} from {path}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            with self._environment(spec):
                loader_spec.loader.exec_module(module)
            self._modules[key] = module
        return self._modules[key]

    class _EnvSwap:
        def __init__(self, env: dict[str, str]):
            self.env = env
            self.saved: dict[str, str | None] = {}

        def __enter__(self) -> None:
            for key, value in self.env.items():
                self.saved[key] = os.environ.get(key)
                os.environ[key] = value

        def __exit__(self, *exc: object) -> None:
            for key, value in self.saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _environment(self, spec: FunctionSpec) -> LambdaRuntime._EnvSwap:
        env = dict(self.base_environment)
        env.update(spec.environment)
        env.update(self.override_environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            }
        )
        return LambdaRuntime._EnvSwap(env)

    @staticmethod
    def _permissions(spec: FunctionSpec) -> Any:
        """moto does not enforce IAM: while the function runs, every call its code declares
        (``greenrail.permissions.calls``) must be granted to its role, or it fails as AWS would."""
        from contextlib import nullcontext

        from greenrail.permissions import guarded
        from greenrail_cli.emulator.iam import guard_for

        if spec.granted_actions is None:
            return nullcontext()
        return guarded(guard_for(spec.logical_id, spec.granted_actions, spec.member_actions))

    # ------------------------------------------------------------ invocation
    def invoke(self, name_or_arn: str, event: Any) -> Any:
        """Synchronous (RequestResponse) invocation; raises what the handler raised."""
        spec = self.find(name_or_arn)
        if spec is None:
            raise KeyError(f"no emulated function {name_or_arn}")
        with self._lock:
            module = self._module(spec)
            function_name = spec.handler.rpartition(".")[2]
            handler: Callable[[Any, Any], Any] = getattr(module, function_name)
            context = LambdaContext(spec.name, spec.arn, spec.memory_mb, spec.timeout_seconds)
            payload = copy.deepcopy(event)
            with self._environment(spec), self._permissions(spec):
                try:
                    result = handler(payload, context)
                except Exception as exc:
                    self.invocations.append(Invocation(spec.name, event, False, error=f"{type(exc).__name__}: {exc}"))
                    raise
            self.invocations.append(Invocation(spec.name, event, True, result=result))
            return result

    def invoke_async(self, name_or_arn: str, event: Any) -> None:
        self._queue.put((name_or_arn, event))

    def pending(self) -> bool:
        return not self._queue.empty()

    def run_pending(self) -> int:
        """Run queued asynchronous invocations (and what they queue) until none is left."""
        count = 0
        while True:
            try:
                name, event = self._queue.get_nowait()
            except queue.Empty:
                return count
            count += 1
            self._run_async(name, event)

    def _run_async(self, name: str, event: Any) -> None:
        spec = self.find(name)
        if spec is None:
            self.dead_letters.append((name, event, "function not found"))
            return
        last_error = ""
        for _attempt in range(spec.max_retry_attempts + 1):
            try:
                self.invoke(name, event)
                return
            except Exception:  # noqa: BLE001 - Lambda retries whatever the handler raised
                last_error = traceback.format_exc(limit=3)
        self.dead_letters.append((spec.name, event, last_error))
        if spec.dead_letter_arn:
            self._send_to_dead_letter_queue(spec.dead_letter_arn, event, last_error)

    @staticmethod
    def _send_to_dead_letter_queue(arn: str, event: Any, error: str) -> None:
        from greenrail.aws import client

        queue_name = arn.split(":")[-1]
        sqs = client("sqs")
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(event, default=str),
            MessageAttributes={"ErrorMessage": {"DataType": "String", "StringValue": error[-250:] or "error"}},
        )
