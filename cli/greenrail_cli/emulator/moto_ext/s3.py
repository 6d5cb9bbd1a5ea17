"""S3: EventBridge notifications with the documented detail shape, to the default bus only.

moto 5.2.5 sends ``eTag`` (S3 sends ``etag``), a ``reason`` of ``ObjectCreated`` (S3 sends the
API name, e.g. ``PutObject``) and delivers to the rules of every bus, not just the default one.
Source: Amazon S3 User Guide, "Amazon S3 event notifications: EventBridge message structure".
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, cast

from moto.core.utils import unix_time
from moto.s3 import notifications

_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "PostObject",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}


def object_created_event(account_id: str, region: str, bucket: str, key: str, size: int, etag: str,
                         reason: str = "PutObject", version_id: str | None = None) -> dict[str, Any]:
    """An ``Object Created`` event exactly as S3 sends it to EventBridge."""
    from datetime import UTC, datetime

    from greenrail_cli.emulator.moto_ext.default_bus import service_event

    detail = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": {
            "key": key,
            "size": size,
            "etag": etag.strip('"'),
            **({"version-id": version_id} if version_id else {}),
            "sequencer": "00" + uuid.uuid4().hex[:16].upper(),
        },
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account_id,
        "source-ip-address": "127.0.0.1",
        "reason": reason,
    }
    return service_event("aws.s3", "Object Created", account_id, region, [f"arn:aws:s3:::{bucket}"], detail,
                         time=datetime.fromtimestamp(unix_time(), UTC))


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    from moto.events.models import events_backends

    event_name = str(getattr(event_name, "value", event_name))
    if not event_name.startswith("s3:ObjectCreated"):
        return  # Greenrail subscribes to Object Created only
    event = object_created_event(
        account_id, bucket.region_name, bucket.name, key.name, key.size, key.etag,
        _REASONS.get(event_name, "PutObject"), key.version_id,
    )
    backend = events_backends[account_id][bucket.region_name]
    default_bus = backend.event_buses.get("default")
    if default_bus is None:
        return
    for rule in list(default_bus.rules.values()):
        rule.send_to_targets(cast(Any, copy.deepcopy(event)), transform_input=True)


def apply() -> None:
    notifications._send_event_bridge_message = _send_event_bridge_message
