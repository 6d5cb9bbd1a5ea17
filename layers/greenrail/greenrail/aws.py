"""boto3 clients, built in one place.

Retries are botocore's own (``standard`` mode: exponential back-off with jitter on throttling
and transient errors, ``GREENRAIL_AWS_MAX_ATTEMPTS`` attempts in all); there is no hand-written
retry loop anywhere in Greenrail. boto3 honours ``AWS_ENDPOINT_URL`` (and per-service
``AWS_ENDPOINT_URL_<SERVICE>``), so the same code talks to AWS or to the local emulator.

Connect and read timeouts are botocore's (60 s each) unless ``GREENRAIL_AWS_CONNECT_TIMEOUT`` /
``GREENRAIL_AWS_READ_TIMEOUT`` are set: Lambda keeps botocore's, the CLI sets short ones.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from greenrail.settings import settings

_lock = threading.Lock()
# The member account whose resources the current work concerns (Organization deployments).
_acting_role: contextvars.ContextVar[str | None] = contextvars.ContextVar("greenrail_acting_role", default=None)
# The account and region whose resources the current work concerns when not this process's own
# (``greenrail scan --accounts/--regions`` runs one target per thread; Lambda never sets them).
_acting_account: contextvars.ContextVar[str | None] = contextvars.ContextVar("greenrail_acting_account", default=None)
_acting_region: contextvars.ContextVar[str | None] = contextvars.ContextVar("greenrail_acting_region", default=None)


def region() -> str:
    """The region acted in: the one :func:`in_region` set, else this process's (AWS_REGION)."""
    return _acting_region.get() or settings().region


@contextmanager
def in_region(name: str | None) -> Iterator[None]:
    """Within the block, the resources' clients (MEMBER_SERVICES) and :func:`region` are in region
    ``name``; Greenrail's own services (the bus, the state table, the policy) stay in this process's."""
    token = _acting_region.set(name)
    try:
        yield
    finally:
        _acting_region.reset(token)


ROLE_SESSION_SECONDS = 3600
ROLE_REFRESH_SECONDS = 3000  # assumed-role clients are rebuilt before their 1-hour session ends


@lru_cache(maxsize=1)
def data_loader() -> Any:
    """botocore's data loader (the JSON models), one per process: every client's session shares it,
    so endpoints.json and SageMaker's multi-megabyte service model are parsed once, not once per
    client (each client has a session of its own: its own credentials)."""
    import os

    import botocore.loaders
    import botocore.session

    class UniquePaths(list[str]):  # boto3 appends its own data path to the loader of every session
        def append(self, path: str) -> None:
            if path not in self:
                super().append(path)

    extra = botocore.session.Session().get_config_variable("data_path")  # AWS_DATA_PATH, as botocore reads it
    paths = [os.path.expanduser(os.path.expandvars(p)) for p in extra.split(os.pathsep)] if extra else []
    return botocore.loaders.Loader(extra_search_paths=UniquePaths(paths))


@lru_cache(maxsize=4)
def _utc_tzlocal(names: tuple[str, str]) -> Any:
    """dateutil's ``tzlocal()``, made while the local zone is UTC (its offsets: zero), one per zone
    name (``time.tzname``, which it keeps: UTC, GMT...)."""
    from dateutil.tz import tzlocal

    return tzlocal()


def parse_timestamp(value: Any) -> Any:
    """botocore's ``parse_timestamp``, the same datetimes (in dateutil's ``tzlocal()``), without
    dateutil's pure-Python conversion of each epoch value when the local zone is UTC (Lambda's;
    ~25 us a value, and a GetMetricData of 500 series returns thousands). Anything else: botocore's."""
    if type(value) in (int, float) and time.timezone == 0 and (not time.daylight or time.altzone == 0):
        try:  # a zero offset all year: tzlocal().fromutc leaves the wall time as it is, fold 0
            return datetime.fromtimestamp(value, UTC).replace(tzinfo=_utc_tzlocal(tuple(time.tzname)))
        except (OverflowError, OSError, ValueError):
            pass  # botocore's own error, below
    from botocore.utils import parse_timestamp as botocore_parse

    return botocore_parse(value)


def botocore_session() -> Any:
    """A new botocore session reading models through :func:`data_loader`, its responses'
    timestamps through :func:`parse_timestamp`."""
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", data_loader())
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    return core


def boto3_session(**kwargs: Any) -> Any:
    """A new boto3 session (``kwargs``: its credentials and region) reading models through :func:`data_loader`."""
    import boto3

    return boto3.session.Session(botocore_session=botocore_session(), **kwargs)


@lru_cache(maxsize=64)
def _client(service: str, region_name: str, role_arn: str | None, epoch: int = 0) -> Any:
    from botocore.config import Config

    current = settings()
    timeouts = {name: seconds for name, seconds in (("connect_timeout", current.aws_connect_timeout),
                                                     ("read_timeout", current.aws_read_timeout)) if seconds}
    config = Config(
        # total_max_attempts counts the first attempt too (botocore's max_attempts counts retries)
        retries={"mode": "standard", "total_max_attempts": current.aws_max_attempts},
        max_pool_connections=current.aws_max_pool,
        **timeouts,
    )
    session = boto3_session(region_name=region_name)
    if role_arn:
        creds = session.client("sts", config=config).assume_role(
            RoleArn=role_arn, RoleSessionName="greenrail", DurationSeconds=ROLE_SESSION_SECONDS
        )["Credentials"]
        session = boto3_session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region_name,
        )
    return session.client(service, config=config)


# Services whose resources live in the account acted in; the rest (the bus, the state table,
# the policy parameter, the topic, the Slack secret, the workflows) are Greenrail's own.
MEMBER_SERVICES = frozenset({"s3", "s3control", "sagemaker", "cloudwatch", "securityhub", "application-autoscaling"})


def client(service: str, region_name: str | None = None, role_arn: str | None = None) -> Any:
    """A cached, thread-safe boto3 client for ``service``, in the account being acted in."""
    if role_arn is None and service in MEMBER_SERVICES:
        role_arn = _acting_role.get()
    if region_name is None:
        region_name = region() if service in MEMBER_SERVICES else settings().region
    epoch = int(time.time() // ROLE_REFRESH_SECONDS) if role_arn else 0
    with _lock:
        return _client(service, region_name, role_arn, epoch)


def pages(operation: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item under ``key`` of every page of ``operation(**kwargs)``, following ``NextToken``
    (SageMaker, Application Auto Scaling and the other APIs that page that way; the caller sets
    ``MaxResults``). Lazy: a caller that stops reading makes no further call."""
    while True:
        response = operation(**kwargs)
        yield from response.get(key) or []
        token = response.get("NextToken")
        if not token:
            return
        kwargs = {**kwargs, "NextToken": token}


def member_role_arn(account: str, own_too: bool = False) -> str | None:
    """The execution role Greenrail assumes in a member account, or None for its own account
    (``own_too``: the role in its own account too, for code that acts only through member roles).

    In an Organization deployment (``GREENRAIL_MEMBER_ROLE_NAME`` set), events from member
    accounts reach the central bus; the central functions act on those accounts' resources
    through the role the member StackSet (org/member-account.yaml) creates.
    """
    config = settings()
    name = config.member_role_name
    if not name or not account or (account == account_id() and not own_too):
        return None
    return f"arn:{config.partition}:iam::{account}:role/{name}"


@contextmanager
def acting_in(account: str | None, own_too: bool = False) -> Iterator[None]:
    """Within the block, clients act in ``account`` (assuming its member role when it is not ours;
    ``own_too``: in our own account too, so that nothing is done with the caller's own role)."""
    token = _acting_role.set(member_role_arn(account, own_too) if account else None)
    named = _acting_account.set(account or None)
    try:
        yield
    finally:
        _acting_account.reset(named)
        _acting_role.reset(token)


def acting_role() -> str | None:
    """The member role the clients of MEMBER_SERVICES assume now (:func:`acting_in`), or None."""
    return _acting_role.get()


def acting_account() -> str:
    """The account acted in (:func:`acting_in`), else this process's own (:func:`account_id`)."""
    return _acting_account.get() or account_id()


_resets: list[Callable[[], None]] = []


def on_reset(forget: Callable[[], None]) -> Callable[[], None]:
    """Register a per-container cache of what AWS answered, forgotten with the clients."""
    _resets.append(forget)
    return forget


def reset_clients() -> None:
    """Forget cached clients (tests and the emulator switch endpoints and credentials), and
    what was cached from their answers (:func:`on_reset`)."""
    _client.cache_clear()
    account_id.cache_clear()
    for forget in _resets:
        forget()


@lru_cache(maxsize=1)
def account_id() -> str:
    configured = settings().account_id
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


# Error codes that mean "try again later" (throttling, which botocore's standard retry mode
# backs off on, and transient conflicts); any other 4xx is permanent: retrying cannot fix it.
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
    "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    # not throttling, but transient all the same: a concurrent conflicting change, a slow client
    "OperationAborted", "RequestTimeout", "RequestTimeoutException", "Conflict", "ConflictException",
})


def is_permanent(exc: BaseException) -> bool:
    """A client error (4xx, not throttling) that no retry can fix, or a local ValueError."""
    if isinstance(exc, ValueError):
        return True
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return 400 <= status < 500 and error_code(exc) not in THROTTLING_CODES
