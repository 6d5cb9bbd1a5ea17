"""Lambda: ``Invoke`` runs the real handler in-process (moto 5.2.5 without Docker echoes input)."""

from __future__ import annotations

import json
import traceback
from typing import Any

from moto.awslambda import models as lambda_models

from greenrail.emulator.moto_ext import hooks

_original_invoke_lambda = lambda_models.LambdaFunction._invoke_lambda


def _invoke_lambda(self: Any, event: str | None = None) -> tuple[str, bool, str]:
    runtime = hooks.runtime
    if runtime is None or runtime.find(self.function_name) is None:
        return _original_invoke_lambda(self, event)
    payload = json.loads(event) if isinstance(event, str) and event else (event or {})
    try:
        result = runtime.invoke(self.function_name, payload)
    except Exception as exc:  # the Lambda service reports handler errors as a payload
        body = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exc(limit=3).splitlines(),
        }
        return json.dumps(body), True, ""
    return json.dumps(result, default=str), False, ""


def apply() -> None:
    lambda_models.LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
