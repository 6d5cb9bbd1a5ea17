"""Logs, metrics and traces, set up the same way for every function (Powertools).

``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` come from template.yaml; the
Tracer records X-Ray segments (``Tracing: Active``) and is off outside Lambda. Greenrail's own
modules log through the standard ``logging`` module; their records get the function's
structured format and keys.
"""

from __future__ import annotations

import logging
import os
from typing import Any

NAMESPACE = "Greenrail"


class Observability:
    """One function's Logger, Metrics and Tracer."""

    def __init__(self, service: str):
        from aws_lambda_powertools import Logger, Metrics, Tracer
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        self.logger = Logger(service=service)
        self.metrics = Metrics(namespace=NAMESPACE, service=service)
        self.tracer = Tracer(service=service)
        copy_config_to_registered_loggers(source_logger=self.logger, include={"greenrail"})
        if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            # Outside Lambda (tests, the emulator) library records also reach the root logger;
            # in Lambda they must not, or the runtime's own handler would print them twice.
            logging.getLogger("greenrail").propagate = True

    def count(self, name: str, value: float = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def handler(self, function: Any) -> Any:
        """Wrap a Lambda handler: traced, logged with the invocation's context, metrics flushed."""
        traced = self.tracer.capture_lambda_handler(function, capture_response=False)
        logged = self.logger.inject_lambda_context(traced, clear_state=True)
        return self.metrics.log_metrics(logged)

    def measure(self, values: dict[str, float], metadata: dict[str, str]) -> None:
        """Measurements (no unit) with their metadata: searchable in the logs' EMF, without a
        dimension per resource (each dimension value would be a custom metric of its own)."""
        for key, text in metadata.items():
            self.metrics.add_metadata(key, text)
        for name, value in values.items():
            self.metrics.add_metric(name=name, unit="NoUnit", value=value)

    def malformed(self, message: str, problems: list[dict[str, str]], metric: str = "MalformedEvent") -> dict[str, Any]:
        """Log what is wrong with an input (field names and problems, never values) and count it."""
        self.logger.error(message, extra={"problems": problems})
        self.count(metric)
        return {"status": "malformed", "problems": problems}
