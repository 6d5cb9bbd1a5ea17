"""Where ``greenrail report`` reads decisions: the decision log in S3, or a JSON-lines file.

Both are read as streams, a line at a time. Objects and files may be gzip-compressed (told by
their first bytes, whatever their name) or plain.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from greenrail.aws import client

GZIP_MAGIC = b"\x1f\x8b"
BUFFER = 1 << 20

Line = tuple[str, int, bytes]  # (where, line number from 1, the line)


class Unreadable(bytes):
    """In place of a line: the rest of a file or object could not be read (a corrupt gzip stream);
    its text says why. The report counts it as a malformed line."""


class SourceError(Exception):
    """The source cannot be read at all (no such file or bucket, access denied)."""


def lines(source: str) -> Iterator[Line]:
    """Every line of ``source``: ``s3://bucket/prefix`` (every object under the prefix, in key order)
    or a local file."""
    if source.startswith("s3://"):
        return s3_lines(source)
    return file_lines(source)


def file_lines(path: str) -> Iterator[Line]:
    try:
        handle = io.BufferedReader(io.FileIO(path, "rb"), BUFFER)  # closed by _stream_lines
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _stream_lines(path, handle)


def split_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise SourceError(f"not an S3 location: {url!r} (expected s3://bucket/prefix)")
    return parts.netloc, parts.path.lstrip("/")


def s3_lines(url: str) -> Iterator[Line]:
    bucket, prefix = split_s3_url(url)
    keys = list_keys(bucket, prefix)  # the listing's errors (no such bucket, denied) before any line
    return _objects_lines(bucket, keys)


def _objects_lines(bucket: str, keys: list[str]) -> Iterator[Line]:
    for key in keys:
        yield from _stream_lines(f"s3://{bucket}/{key}", open_object(bucket, key))


def list_keys(bucket: str, prefix: str) -> list[str]:
    """The keys under ``prefix`` in key order (the log's partitions put them in date order)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from greenrail.aws import error_code

    keys: list[str] = []
    try:
        for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"cannot list s3://{bucket}/{prefix}: {error_code(exc)}: {exc}") from None
    return sorted(keys)


def open_object(bucket: str, key: str) -> io.BufferedReader[Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    from greenrail.aws import error_code

    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"cannot read s3://{bucket}/{key}: {error_code(exc)}") from None
    return io.BufferedReader(_Raw(body), BUFFER)


class _Raw(io.RawIOBase):
    """A botocore StreamingBody as a raw stream, so it can be buffered (and peeked at)."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.body.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.body.close()
        super().close()


def _stream_lines(name: str, buffered: io.BufferedReader[Any]) -> Iterator[Line]:
    with buffered:
        stream: Iterable[bytes] = buffered
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=buffered)
        number = 0
        try:
            for number, line in enumerate(stream, 1):  # noqa: B007 - the count is read after the loop
                yield name, number, line
        except (OSError, EOFError, gzip.BadGzipFile) as exc:  # a truncated or corrupt gzip stream
            yield name, number + 1, Unreadable(f"unreadable from here on: {exc}".encode())
