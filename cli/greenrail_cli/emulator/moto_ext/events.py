"""EventBridge: deliver to Lambda, Step Functions, SNS and Firehose targets; keep ``account``; log events.

moto 5.2.5 raises NotImplementedError for Lambda, Step Functions and SNS targets, ignores Firehose
targets and ``InputPath``, and without an InputTransformer re-renders the event through a
template that drops ``account``.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any, cast

from moto.events import models as events_models
from moto.events.utils import EventTemplateParser
from moto.utilities.arns import parse_arn

from greenrail_cli.emulator.moto_ext import hooks

_original_send = events_models.Rule.send_to_targets
_original_put_events = events_models.EventsBackend.put_events


def _render(target: dict[str, Any], event: dict[str, Any]) -> Any:
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:  # "$" or "$.a.b": the part of the event the target gets
        value: Any = event
        for part in [p for p in str(target["InputPath"]).lstrip("$").split(".") if p]:
            value = value.get(part) if isinstance(value, dict) else None
        return copy.deepcopy(value)
    transformer = target.get("InputTransformer")
    if transformer:
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=cast(Any, event),
        )
    return copy.deepcopy(event)


def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
    if not self.event_pattern.matches_event(original_event):
        return
    if self.state == "DISABLED":
        return
    hooks.event_log.append((self.event_bus_name, copy.deepcopy(original_event)))
    others = []
    for target in self.targets:
        arn = parse_arn(target["Arn"])
        payload = _render(target, original_event)
        if arn.service == "lambda":
            assert hooks.runtime is not None
            hooks.runtime.invoke_async(target["Arn"], payload)
        elif arn.service == "states":
            from moto.stepfunctions.models import stepfunctions_backends

            backend = stepfunctions_backends[arn.account][arn.region]
            # Step Functions names an execution started by a rule itself (a UUID)
            backend.start_execution(target["Arn"], name=str(uuid.uuid4()), execution_input=json.dumps(payload))
        elif arn.service == "sns":
            from moto.sns.models import sns_backends

            sns_backends[arn.account][arn.region].publish(arn=target["Arn"], message=json.dumps(payload))
        elif arn.service == "firehose":
            from moto.firehose.models import firehose_backends

            # EventBridge sends the (rendered) event as one record's data, without a delimiter
            firehose_backends[arn.account][arn.region].put_record_batch(
                arn.resource_id, [{"Data": json.dumps(payload).encode()}])
        else:
            others.append(target)
    if others:
        saved = self.targets
        self.targets = others
        try:
            _original_send(self, cast(Any, original_event), transform_input)
        finally:
            self.targets = saved


def apply() -> None:
    events_models.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
