"""Times as moto keeps them: naive UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def now() -> datetime:
    """Wall-clock UTC (naive): what the functions compare times with (the emulator's clock offset
    only moves Wait states and due schedules)."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(value: Any) -> datetime | None:
    """A request or seed time as the naive UTC datetime moto keeps (datetime, epoch seconds or ISO)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, int | float) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    return naive_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def epoch_ms(value: datetime | None) -> str | None:
    """Epoch milliseconds as a string: how SageMaker's events carry times (the documented sample)."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return str(int(aware.timestamp() * 1000))
