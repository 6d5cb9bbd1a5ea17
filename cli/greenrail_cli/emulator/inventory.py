"""S3 Inventory for the emulator, the demo, the tests and the benchmark: what S3 would deliver.

``publish`` writes an inventory run of a source bucket exactly where S3 puts it
(``<prefix>/<source>/<config-id>/data/<uuid>.csv.gz`` or ``.parquet``, and
``<prefix>/<source>/<config-id>/<YYYY-MM-DDTHH-MMZ>/manifest.json``; Amazon S3 User Guide,
"Locating your inventory list"), rows with the fields Greenrail asks for: Bucket, Key, Size,
LastModifiedDate, ETag, StorageClass (CSV keys URL-encoded, as S3 writes them). ``configure``
puts the matching inventory configuration on the source bucket.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

FIELDS = ("Size", "LastModifiedDate", "StorageClass", "ETag")
CSV_SCHEMA = "Bucket, Key, Size, LastModifiedDate, StorageClass, ETag"
PARQUET_SCHEMA = ("message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
                  "optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); "
                  "optional binary storage_class (STRING); optional binary e_tag (STRING);}")


def configure(s3: Any, source: str, destination: str, config_id: str = "daily", fmt: str = "CSV",
              prefix: str = "inventory", account: str = "123456789012") -> None:
    s3.put_bucket_inventory_configuration(Bucket=source, Id=config_id, InventoryConfiguration={
        "Id": config_id, "IsEnabled": True, "IncludedObjectVersions": "Current",
        "Destination": {"S3BucketDestination": {"AccountId": account, "Bucket": f"arn:aws:s3:::{destination}",
                                                "Format": fmt, "Prefix": prefix}},
        "Schedule": {"Frequency": "Daily"}, "OptionalFields": list(FIELDS)})


def csv_gz(source: str, rows: Iterable[tuple[str, int, str, str]], modified: str = "2026-11-01T00:00:00.000Z") -> bytes:
    """One CSV inventory file, gzip: ``rows`` of (key, size, storage class, etag)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for key, size, storage_class, etag in rows:
        writer.writerow([source, quote(key, safe="/"), size, modified, storage_class, etag])
    return gzip.compress(buffer.getvalue().encode(), compresslevel=1)


def parquet(source: str, rows: list[tuple[str, int, str, str]]) -> bytes:
    """One Parquet inventory file (needs pyarrow: the bench extra)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys, sizes, classes, etags = zip(*rows, strict=True) if rows else ((), (), (), ())
    table = pa.table({"bucket": [source] * len(keys), "key": list(keys), "size": list(sizes),
                      "last_modified_date": [datetime(2026, 11, 1, tzinfo=UTC)] * len(keys),
                      "storage_class": list(classes), "e_tag": list(etags)})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def publish(s3: Any, source: str, destination: str, objects: list[tuple[str, int, str, str]],
            taken: datetime, config_id: str = "daily", fmt: str = "CSV", prefix: str = "inventory",
            files: int = 1, extra_files: Iterable[tuple[str, bytes | None]] = ()) -> str:
    """Write one inventory run; returns its manifest key. ``extra_files``: (name, body) files
    listed in the manifest too, ``None`` body for a file listed but not written (gone)."""
    base = f"{prefix}/{source}/{config_id}"
    entries = []
    chunk = max(1, -(-len(objects) // max(1, files)))
    bodies: list[tuple[str, bytes | None]] = []
    for index in range(0, len(objects), chunk):
        part = objects[index:index + chunk]
        name = f"{hashlib.sha256(f'{taken}{index}'.encode()).hexdigest()[:32]}"
        if fmt == "CSV":
            bodies.append((f"{name}.csv.gz", csv_gz(source, part)))
        else:
            bodies.append((f"{name}.parquet", parquet(source, part)))
    bodies += list(extra_files)
    for name, body in bodies:
        key = f"{base}/data/{name}"
        if body is not None:
            s3.put_object(Bucket=destination, Key=key, Body=body)
        entries.append({"key": key, "size": len(body or b""), "MD5checksum": hashlib.md5(body or b"").hexdigest()})
    manifest = {
        "sourceBucket": source, "destinationBucket": f"arn:aws:s3:::{destination}", "version": "2016-11-30",
        "creationTimestamp": str(int(taken.timestamp() * 1000)), "fileFormat": fmt.upper() if fmt == "CSV" else "Parquet",
        "fileSchema": CSV_SCHEMA if fmt == "CSV" else PARQUET_SCHEMA, "files": entries,
    }
    key = f"{base}/{taken.strftime('%Y-%m-%dT%H-%MZ')}/manifest.json"
    s3.put_object(Bucket=destination, Key=key, Body=json.dumps(manifest).encode())
    return key
