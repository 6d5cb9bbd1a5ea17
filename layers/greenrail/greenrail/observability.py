"""Logs, metrics and traces, set up the same way for every function (Powertools).

``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` come from template.yaml; the
Tracer records X-Ray segments (``Tracing: Active``) and is off outside Lambda. Greenrail's own
modules log through the standard ``logging`` module; their records get the function's
structured format and keys.

When tracing is off (outside Lambda, ``POWERTOOLS_TRACE_DISABLED``, SAM local: Powertools' own
rule) no Tracer is made at import: making one imports the X-Ray SDK, whose recorder builds two
botocore clients (a few hundred ms of cold start for nothing). ``tracer`` still gives one on demand.
"""

from __future__ import annotations

import logging
import os
from typing import Any

NAMESPACE = "Greenrail"
TRACED_MODULES = ("botocore", "httplib")  # aws_xray_sdk's names: boto3/botocore calls, http.client requests


class Observability:
    """One function's Logger, Metrics and Tracer."""

    def __init__(self, service: str):
        from aws_lambda_powertools import Logger, Metrics, Tracer
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        self.service = service
        self.logger = Logger(service=service)
        self.metrics = Metrics(namespace=NAMESPACE, service=service)
        # Tracing patches what Greenrail calls through: botocore (AWS) and http.client (webhooks,
        # carbon-intensity sources), not every library patch_all finds installed (requests, sqlite3...).
        self._tracer: Tracer | None = Tracer(service=service, patch_modules=TRACED_MODULES) if tracing_enabled() else None
        copy_config_to_registered_loggers(source_logger=self.logger, include={"greenrail"})
        if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            # Outside Lambda (tests, the emulator) library records also reach the root logger;
            # in Lambda they must not, or the runtime's own handler would print them twice.
            logging.getLogger("greenrail").propagate = True

    @property
    def tracer(self) -> Any:
        """Powertools' Tracer (made on first use when tracing is off: it then records nothing)."""
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer(service=self.service, patch_modules=TRACED_MODULES)
        return self._tracer

    def count(self, name: str, value: float = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def handler(self, function: Any) -> Any:
        """Wrap a Lambda handler: traced, logged with the invocation's context, metrics flushed."""
        traced = function if self._tracer is None else self._tracer.capture_lambda_handler(function, capture_response=False)
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


def tracing_enabled() -> bool:
    """Whether Powertools' Tracer would record (in Lambda, unless POWERTOOLS_TRACE_DISABLED or SAM local):
    its own rule, read from the environment without importing the X-Ray SDK."""
    from aws_lambda_powertools.tracing.tracer import Tracer

    return not Tracer._is_tracer_disabled()


# ---------------------------------------------------------------- decision metrics
# What the dashboard (template.yaml, Dashboard) charts per policy: one EMF document per policy for
# each batch of published decisions, with the one dimension ``policy`` (no ``service``: the same
# policy is published by several functions, and the dashboard sums per policy).
DECISION_METRICS = {
    "DecisionsPublished": "Count",  # every decision put on the bus
    "ActionsApplied": "Count",  # applied (never in dry-run)
    "ActionsHeldBack": "Count",  # not applied: the policy's blast radius for the hour was reached
    "ActionErrors": "Count",  # not applied: an AWS error stopped it
    "SavingsUsdPerMonth": "None",  # USD per month of the applied decisions
    "SavingsKgCO2ePerMonth": "None",  # kgCO2e per month of the applied decisions
}


def decision_metrics(decisions: Any, now_ms: int | None = None) -> list[dict[str, Any]]:
    """The EMF documents (CloudWatch embedded metric format) for ``decisions``, one per policy."""
    import time

    totals: dict[str, dict[str, float]] = {}
    for decision in decisions:
        total = totals.setdefault(decision.policy, dict.fromkeys(DECISION_METRICS, 0.0))
        total["DecisionsPublished"] += 1
        total["ActionsHeldBack"] += 1 if decision.held_back else 0
        total["ActionErrors"] += 1 if decision.error else 0
        if decision.applied:
            total["ActionsApplied"] += 1
            total["SavingsUsdPerMonth"] += decision.savings.usd_per_month
            total["SavingsKgCO2ePerMonth"] += decision.savings.kgco2e_per_month
    timestamp = now_ms if now_ms is not None else int(time.time() * 1000)
    return [
        {
            "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [{
                "Namespace": NAMESPACE, "Dimensions": [["policy"]],
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in DECISION_METRICS.items()],
            }]},
            "policy": policy,
            **{name: round(value, 9) for name, value in values.items()},
        }
        for policy, values in sorted(totals.items())
    ]


def emit_decision_metrics(decisions: Any) -> None:
    """Print the decision metrics to stdout, where Lambda sends them to CloudWatch Logs (EMF).
    Outside Lambda (the CLI) nothing is printed: its stdout is the user's; nor when Powertools'
    metrics are off (POWERTOOLS_METRICS_DISABLED, as in the demo)."""
    import json
    import sys

    disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in ("true", "1", "yes", "on")
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or disabled:
        return
    for document in decision_metrics(decisions):
        sys.stdout.write(json.dumps(document) + "\n")
