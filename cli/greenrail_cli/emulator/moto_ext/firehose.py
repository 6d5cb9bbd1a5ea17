"""Amazon Data Firehose: S3 delivery the way the decision log's stream is configured.

moto 5.2.5 writes each PutRecordBatch as one uncompressed object under ``<Prefix>YYYY/MM/DD/HH/``
and ignores ProcessingConfiguration, dynamic partitioning, CompressionFormat and
ErrorOutputPrefix. For an ExtendedS3 destination this module instead:

* evaluates the MetadataExtraction query, in the subset of JQ the template uses
  (``{name: .field, name: .field[a:b], ...}``), and the prefix expressions
  ``!{partitionKeyFromQuery:name}``, ``!{timestamp:yyyy|MM|dd|HH}``, ``!{firehose:error-output-type}``
  and ``!{firehose:random-string}``;
* appends the AppendDelimiterToRecord delimiter to each record;
* writes one object per partition (``<prefix><stream>-<version>-<time>-<uuid>``, ``.gz`` with GZIP),
  without buffering: the emulator never waits;
* sends a record it cannot partition (not JSON, a key missing) to ErrorOutputPrefix with the
  error type ``partitioning-failed``, as a JSON document holding the record (``rawData``, base64);
* when S3 refuses a write (the bucket is gone, a policy denies it), keeps the records and tries
  them again with the next records or :func:`retry_pending`, for 24 hours of the emulator's
  clock; older records are dropped and counted (:data:`LOST`), as Firehose drops them.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.firehose import models as firehose_models

from greenrail_cli.emulator.moto_ext import hooks

RETENTION = timedelta(hours=24)  # Firehose keeps undeliverable S3 data this long, then drops it
PARTITIONING_FAILED = "partitioning-failed"
_original_put_s3_records = firehose_models.FirehoseBackend.put_s3_records


@dataclass
class _Pending:
    data: bytes
    arrived: datetime


@dataclass
class _StreamState:
    pending: list[_Pending] = field(default_factory=list)
    failed_attempts: int = 0


STATE: dict[str, _StreamState] = {}  # stream ARN-like key -> records S3 has not taken yet
LOST: dict[str, int] = {}  # records dropped after RETENTION, per stream


def _now() -> datetime:
    return hooks.clock.now() if hooks.clock is not None else datetime.now(UTC)


# ---------------------------------------------------------------- JQ subset and prefixes
_QUERY_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*\.([A-Za-z_][A-Za-z0-9_.]*)(?:\[(\d*):(\d*)\])?\s*$")


def extract(query: str, record: Any) -> dict[str, str]:
    """The partition keys ``query`` extracts from ``record``; raises ValueError when one is missing."""
    body = query.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError(f"unsupported MetadataExtractionQuery {query!r}")
    keys: dict[str, str] = {}
    for item in body[1:-1].split(","):
        match = _QUERY_ITEM.match(item)
        if match is None:
            raise ValueError(f"unsupported MetadataExtractionQuery item {item!r}")
        name, path, start, end = match.groups()
        value: Any = record
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                raise ValueError(f"{name}: .{path} is not in the record")
            value = value[part]
        if value is None or isinstance(value, dict | list):
            raise ValueError(f"{name}: .{path} is not a scalar")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if start is not None or end is not None:
            text = text[int(start) if start else None:int(end) if end else None]
        keys[name] = text
    return keys


_JAVA_FORMATS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def render_prefix(prefix: str, keys: dict[str, str], arrived: datetime, error_type: str = "") -> str:
    def replace(match: re.Match[str]) -> str:
        namespace, value = match.group(1), match.group(2)
        if namespace == "partitionKeyFromQuery":
            return keys[value]
        if namespace == "timestamp":
            text = value
            for java, strf in sorted(_JAVA_FORMATS.items(), key=lambda item: -len(item[0])):
                text = text.replace(java, arrived.strftime(strf))
            return text.replace("'", "")
        if namespace == "firehose" and value == "error-output-type":
            return error_type
        if namespace == "firehose" and value == "random-string":
            return uuid.uuid4().hex[:11]
        raise ValueError(f"unsupported prefix expression !{{{namespace}:{value}}}")

    return re.sub(r"!\{([A-Za-z]+):([^}]+)\}", replace, prefix)


def _processors(destination: dict[str, Any]) -> tuple[str | None, bytes]:
    """(MetadataExtractionQuery or None, the delimiter appended to each record)."""
    processing = destination.get("ProcessingConfiguration") or {}
    query, delimiter = None, b""
    if str(processing.get("Enabled", False)).lower() != "true":
        return query, delimiter
    for processor in processing.get("Processors", []):
        parameters = {p["ParameterName"]: p["ParameterValue"] for p in processor.get("Parameters", [])}
        if processor.get("Type") == "MetadataExtraction":
            query = parameters.get("MetadataExtractionQuery")
        elif processor.get("Type") == "AppendDelimiterToRecord":
            delimiter = parameters.get("Delimiter", "\\n").encode().decode("unicode_escape").encode()
    return query, delimiter


def _partitioned(destination: dict[str, Any]) -> bool:
    dynamic = destination.get("DynamicPartitioningConfiguration") or {}
    return str(dynamic.get("Enabled", False)).lower() == "true"


# ---------------------------------------------------------------- delivery
def _objects(name: str, version: str, destination: dict[str, Any],
             records: list[_Pending]) -> dict[str, bytes]:
    """The S3 objects (key -> body) the records make."""
    query, delimiter = _processors(destination)
    partitioned = _partitioned(destination) and query is not None
    gzipped = destination.get("CompressionFormat", "UNCOMPRESSED") == "GZIP"
    groups: dict[str, list[bytes]] = {}
    for record in records:
        if partitioned:
            try:
                keys = extract(str(query), json.loads(record.data))
                prefix = render_prefix(destination.get("Prefix", ""), keys, record.arrived)
                body = record.data + delimiter
            except (ValueError, KeyError) as exc:
                prefix = render_prefix(destination.get("ErrorOutputPrefix", ""), {}, record.arrived,
                                       PARTITIONING_FAILED)
                body = json.dumps(_failure(record, exc)).encode() + b"\n"
        else:
            prefix = render_prefix(destination.get("Prefix", ""), {}, record.arrived) or \
                record.arrived.strftime("%Y/%m/%d/%H/")
            body = record.data + delimiter
        groups.setdefault(prefix, []).append(body)
    objects = {}
    for prefix, bodies in groups.items():
        oldest = min(r.arrived for r in records)
        key = f"{prefix}{name}-{version}-{oldest.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4()}"
        data = b"".join(bodies)
        if gzipped:
            key, data = key + ".gz", gzip.compress(data)
        objects[key] = data
    return objects


def _failure(record: _Pending, exc: Exception) -> dict[str, Any]:
    """The document Firehose writes for a record it could not partition."""
    arrived_ms = int(record.arrived.timestamp() * 1000)
    return {"attemptsMade": 1, "arrivalTimestamp": arrived_ms,
            "errorCode": "DynamicPartitioning.MetadataExtractionFailed", "errorMessage": str(exc),
            "attemptEndingTimestamp": int(_now().timestamp() * 1000),
            "rawData": base64.b64encode(record.data).decode()}


def _deliver(backend: Any, name: str, version: str, destination: dict[str, Any]) -> None:
    """Write what the stream holds; on an S3 failure keep it (for RETENTION) and try again later."""
    from moto.s3.models import s3_backends

    state = STATE.setdefault(f"{backend.account_id}:{backend.region_name}:{name}", _StreamState())
    cutoff = _now() - RETENTION
    expired = [r for r in state.pending if r.arrived < cutoff]
    if expired:
        LOST[name] = LOST.get(name, 0) + len(expired)
        state.pending = [r for r in state.pending if r.arrived >= cutoff]
    if not state.pending:
        return
    bucket = destination["BucketARN"].split(":")[-1]
    s3 = s3_backends[backend.account_id][backend.partition]
    objects = _objects(name, version, destination, state.pending)
    try:
        if bucket in _refusing:
            raise PermissionError(f"AccessDenied: {bucket} refuses writes")
        for key, data in objects.items():
            s3.put_object(bucket, key, data)
    except Exception:
        state.failed_attempts += 1  # Firehose retries; nothing is acknowledged as delivered
        return
    state.pending = []


_refusing: set[str] = set()


def refuse_writes(bucket: str, refuse: bool = True) -> None:
    """A fault for tests: the bucket refuses Firehose's writes (a bucket policy or a KMS key
    denying them) until called again with ``refuse=False``."""
    if refuse:
        _refusing.add(bucket)
    else:
        _refusing.discard(bucket)


def pending(name: str) -> int:
    """Records of stream ``name`` S3 has not taken yet (in any account and region)."""
    return sum(len(s.pending) for key, s in STATE.items() if key.rsplit(":", 1)[1] == name)


def retry_pending() -> None:
    """Try every stream's undelivered records again (Firehose retries on its own every few seconds)."""
    from moto.firehose.models import firehose_backends

    for key in list(STATE):
        account, region, name = key.split(":", 2)
        backend = firehose_backends[account][region]
        stream = backend.delivery_streams.get(name)
        if stream is None:
            continue
        for destination in stream.destinations:
            if "ExtendedS3" in destination:
                _deliver(backend, name, stream.version_id, destination["ExtendedS3"])


def put_s3_records(self: Any, delivery_stream_name: str, version_id: str, s3_destination: dict[str, Any],
                   records: list[dict[str, bytes]]) -> list[dict[str, str]]:
    if "DynamicPartitioningConfiguration" not in s3_destination and "ProcessingConfiguration" not in s3_destination \
            and "CompressionFormat" not in s3_destination:
        return list(_original_put_s3_records(self, delivery_stream_name, version_id, s3_destination, records))
    state = STATE.setdefault(f"{self.account_id}:{self.region_name}:{delivery_stream_name}", _StreamState())
    arrived = _now()
    state.pending.extend(_Pending(bytes(r["Data"]), arrived) for r in records)
    _deliver(self, delivery_stream_name, version_id, s3_destination)
    return [{"RecordId": str(uuid.uuid4())} for _ in records]


def reset() -> None:
    STATE.clear()
    LOST.clear()
    _refusing.clear()


def apply() -> None:
    firehose_models.FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign,assignment]
