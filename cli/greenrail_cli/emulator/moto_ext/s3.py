"""S3: EventBridge notifications with the documented detail shape, to the default bus only;
inventory configurations listed as they were put.

moto 5.2.5 sends ``eTag`` (S3 sends ``etag``), a ``reason`` of ``ObjectCreated`` (S3 sends the
API name, e.g. ``PutObject``) and delivers to the rules of every bus, not just the default one.
Source: Amazon S3 User Guide, "Amazon S3 event notifications: EventBridge message structure".

ListBucketInventoryConfigurations in moto 5.2.5 answers ``OptionalFields: ["Field"]`` (the XML
element's name, not the fields), ``IsEnabled`` as a string and ``IncludedObjectVersions: All``
whatever was put; here the fields, the boolean and the versions put are answered.
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


def _fields(value: Any) -> list[str]:
    if isinstance(value, dict):  # xmltodict: {"Field": "Size"} or {"Field": ["Size", ...]}
        value = value.get("Field", [])
    return [value] if isinstance(value, str) else list(value or [])


def _list_bucket_inventory_configurations(self: Any) -> Any:
    from moto.core.responses import ActionResult

    configs = []
    for inv in self.backend.list_bucket_inventory_configurations(bucket_name=self.bucket_name):
        config: dict[str, Any] = {
            "Destination": inv.destination, "IsEnabled": str(inv.is_enabled).lower() == "true", "Id": inv.id,
            "IncludedObjectVersions": getattr(inv, "included_object_versions", "All"), "Schedule": inv.schedule,
        }
        if inv.filters:
            config["Filter"] = inv.filters
        if inv.optional_fields:
            config["OptionalFields"] = _fields(inv.optional_fields)
        configs.append(config)
    self.data["Action"] = "ListBucketInventoryConfigurations"
    return self.serialized(ActionResult({"InventoryConfigurationList": configs, "IsTruncated": False}))


def _put_inventory(original: Any) -> Any:
    def put(self: Any, bucket_name: str, inventory_configuration: dict[str, Any]) -> None:
        original(self, bucket_name, inventory_configuration)
        stored = self.get_bucket(bucket_name).inventory_configs[inventory_configuration["Id"]]
        stored.included_object_versions = inventory_configuration.get("IncludedObjectVersions", "All")

    return put


_applied = False


def apply() -> None:
    global _applied
    notifications._send_event_bridge_message = _send_event_bridge_message
    if _applied:
        return
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    S3Response.list_bucket_inventory_configurations = _list_bucket_inventory_configurations  # type: ignore[method-assign]
    S3Backend.put_bucket_inventory_configuration = _put_inventory(  # type: ignore[method-assign]
        S3Backend.put_bucket_inventory_configuration)
    _applied = True
