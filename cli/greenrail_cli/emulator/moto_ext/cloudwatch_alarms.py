"""moto extension: CloudWatch alarms announce their state changes on EventBridge.

CloudWatch sends a ``CloudWatch Alarm State Change`` event to the default bus each time an alarm
changes state; moto 5.2.5 sends nothing. moto does not evaluate alarms either: a state changes
only through ``SetAlarmState`` (``Alarm.update_state``), which this module patches, so every
change moto makes is announced. Also, as CloudWatch does (and moto does not):

* a new alarm starts in ``INSUFFICIENT_DATA`` (moto: ``OK``);
* ``PutMetricAlarm`` on an existing alarm leaves its state unchanged (moto resets it).

An event is sent only when the state value changes (``SetAlarmState`` to the current value
changes nothing). Shape: CloudWatch User Guide, "Alarm events and EventBridge" (single metric and
metric math alarms): ``detail`` has ``alarmName``, ``state`` and ``previousState`` (``value``,
``reason``, ``reasonData`` when there is some, ``timestamp``) and ``configuration``
(``description``, ``metrics[]`` of ``{id, metricStat: {metric: {namespace, name, dimensions},
period, stat}, returnData}``, or ``expression``/``label`` for metric math). :func:`apply` is
idempotent.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from greenrail_cli.emulator.moto_ext import default_bus

INITIAL_STATE = "INSUFFICIENT_DATA"
INITIAL_REASON = "Unchecked: Initial alarm creation"

_applied = False


def _timestamp(value: datetime) -> str:
    """CloudWatch's event timestamps: ``2019-10-02T17:04:40.985+0000``."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{aware.microsecond // 1000:03d}+0000"


def _state(value: str, reason: str | None, reason_data: str | None, timestamp: datetime) -> dict[str, Any]:
    state: dict[str, Any] = {"value": value, "reason": reason or ""}
    if reason_data and reason_data != "{}":
        state["reasonData"] = reason_data
    state["timestamp"] = _timestamp(timestamp)
    return state


def _metric_stat(metric: Any, period: Any, stat: Any, unit: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "metric": {
            "namespace": metric.namespace,
            "name": metric.metric_name,
            "dimensions": {d.name: d.value for d in metric.dimensions or []},
        },
        "period": int(period),
        "stat": stat,
    }
    if unit:
        result["unit"] = unit
    return result


def _return_data(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def configuration(alarm: Any) -> dict[str, Any]:
    """The event's ``configuration`` for a moto alarm."""
    config: dict[str, Any] = {}
    if alarm.description:
        config["description"] = alarm.description
    if alarm.rule:  # a composite alarm
        config["alarmRule"] = alarm.rule
        return config
    metrics: list[dict[str, Any]] = []
    if alarm.metric_data_queries:
        for query in alarm.metric_data_queries:
            entry: dict[str, Any] = {"id": query.id}
            if query.expression:
                entry["expression"] = query.expression
            if query.label:
                entry["label"] = query.label
            if query.metric_stat is not None:
                stat = query.metric_stat
                entry["metricStat"] = _metric_stat(stat.metric, stat.period, stat.stat, stat.unit)
            entry["returnData"] = _return_data(query.return_data)
            metrics.append(entry)
    else:
        from moto.cloudwatch.models import Metric

        metric = Metric(alarm.metric_name, alarm.namespace, alarm.dimensions)
        metrics.append({
            # CloudWatch names a single metric with a generated id; keep it stable per alarm.
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn)),
            "metricStat": _metric_stat(metric, alarm.period, alarm.statistic or alarm.extended_statistic, alarm.unit),
            "returnData": True,
        })
    config["metrics"] = metrics
    return config


def alarm_state_change_event(alarm: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """The ``CloudWatch Alarm State Change`` event for a moto alarm now in its new state;
    ``previous`` is the ``previousState`` (see :func:`_state`)."""
    _, _, _, region, account, _ = alarm.alarm_arn.split(":", 5)
    detail = {
        "alarmName": alarm.name,
        "state": _state(alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp),
        "previousState": previous,
        "configuration": configuration(alarm),
    }
    return default_bus.service_event("aws.cloudwatch", "CloudWatch Alarm State Change", account, region,
                                     [alarm.alarm_arn], detail, time=alarm.state_updated_timestamp)


def apply() -> None:
    """Patch moto's CloudWatch alarms (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.cloudwatch import models

    from greenrail_cli.emulator.moto_ext import default_bus

    original_init = models.Alarm.__init__
    original_update = models.Alarm.update_state
    original_put = models.CloudWatchBackend.put_metric_alarm

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.state_value = INITIAL_STATE
        self.state_reason = INITIAL_REASON

    def update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
        previous = _state(self.state_value, self.state_reason, self.state_reason_data, self.state_updated_timestamp)
        changed = state_value != self.state_value
        original_update(self, reason, reason_data, state_value)
        if changed:
            default_bus.deliver(alarm_state_change_event(self, previous))

    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existing = self.alarms.get(name)
        alarm = original_put(self, name, *args, **kwargs)
        if existing is not None and existing is not alarm:
            for field in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history"):
                setattr(alarm, field, getattr(existing, field))
        return alarm

    models.Alarm.__init__ = init  # type: ignore[method-assign]
    models.Alarm.update_state = update_state  # type: ignore[method-assign]
    models.CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]
    _applied = True
