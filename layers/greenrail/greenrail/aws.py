"""boto3 clients, built in one place.

Retries are botocore's own (``standard`` mode: exponential back-off with jitter on throttling
and transient errors, ``GREENRAIL_AWS_MAX_ATTEMPTS`` attempts in all); there is no hand-written
retry loop anywhere in Greenrail. boto3 honours ``AWS_ENDPOINT_URL`` (and per-service
``AWS_ENDPOINT_URL_<SERVICE>``), so the same code talks to AWS or to the local emulator.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@lru_cache(maxsize=64)
def _client(service: str, region_name: str, role_arn: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": int(os.environ.get("GREENRAIL_AWS_MAX_ATTEMPTS", "5"))},
        max_pool_connections=int(os.environ.get("GREENRAIL_AWS_MAX_POOL", "20")),
    )
    session = boto3.session.Session(region_name=region_name)
    if role_arn:
        creds = session.client("sts", config=config).assume_role(
            RoleArn=role_arn, RoleSessionName="greenrail"
        )["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region_name,
        )
    return session.client(service, config=config)


def client(service: str, region_name: str | None = None, role_arn: str | None = None) -> Any:
    """A cached, thread-safe boto3 client for ``service``."""
    with _lock:
        return _client(service, region_name or region(), role_arn)


def reset_clients() -> None:
    """Forget cached clients (tests and the emulator switch endpoints and credentials)."""
    _client.cache_clear()
    account_id.cache_clear()


@lru_cache(maxsize=1)
def account_id() -> str:
    configured = os.environ.get("GREENRAIL_ACCOUNT_ID")
    if configured:
        return configured
    return str(client("sts").get_caller_identity()["Account"])


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


NOT_FOUND_CODES = frozenset(
    {"NoSuchKey", "NoSuchBucket", "404", "NotFound", "ResourceNotFound", "ResourceNotFoundException", "ValidationException"}
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403", "UnauthorizedOperation"})
