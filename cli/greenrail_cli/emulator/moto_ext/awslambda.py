"""Lambda: ``Invoke`` runs the real handler in-process (moto 5.2.5 without Docker echoes input).

With ``use_docker: False`` moto serves Lambda from ``LambdaSimpleBackend``, whose ``invoke``
returns the request body without reaching ``LambdaFunction._invoke_lambda``; the Invoke API
(e.g. a Step Functions ``arn:aws:states:::lambda:invoke`` Task) is routed back through
``LambdaBackend.invoke`` for the emulator's functions, so it runs the handler too.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from moto.awslambda import models as lambda_models
from moto.awslambda_simple import models as lambda_simple_models

from greenrail_cli.emulator.moto_ext import hooks

_original_invoke_lambda = lambda_models.LambdaFunction._invoke_lambda
_original_simple_invoke = lambda_simple_models.LambdaSimpleBackend.invoke


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


def _simple_invoke(
    self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> str | bytes | None:
    runtime = hooks.runtime
    if runtime is None or runtime.find(function_name) is None:
        return _original_simple_invoke(self, function_name, qualifier, body, headers, response_headers)
    return lambda_models.LambdaBackend.invoke(self, function_name, qualifier, body, headers, response_headers)


def apply() -> None:
    lambda_models.LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    lambda_simple_models.LambdaSimpleBackend.invoke = _simple_invoke  # type: ignore[method-assign]
