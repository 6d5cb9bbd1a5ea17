"""What Greenrail accepts at its edges: account ids, regions, S3 bucket names and keys, job names.

Every handler validates its input with these types before it reads or writes anything, so a
malformed value is a malformed event (logged field by field, counted, dropped), never an action
in the wrong account or a crash inside botocore. Error messages never echo the value.

* ``AccountId``: exactly twelve ASCII digits (``\\d`` would also take other scripts' digits).
* ``Region``: a region of the ``aws``, ``aws-cn`` or ``aws-us-gov`` partition, as botocore's own
  endpoint data lists them (read once, cached): a region newer than the botocore that ships with
  the layer is refused until botocore is upgraded.
* ``BucketName``: S3's naming rules: 3-63 characters, lowercase letters, digits, dots and
  hyphens, starting and ending with a letter or digit, no ``..``, not an IP address.
* ``ObjectKey``: 1-1024 bytes of UTF-8.
* ``Utf8Text``: any string that encodes as UTF-8 (no lone surrogate): text a decision carries.
* ``TrainingJobName``, ``TrainingJobArn``: SageMaker's pattern; an ARN of one of those partitions
  with a known region and a twelve-digit account (``SageMakerJobArn``: also a processing or
  hyperparameter tuning job's).
* ``EventId``: 1-128 printable ASCII characters (EventBridge's are UUIDs): an id is logged and
  carried by decisions, so it must be short and encodable.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field

if TYPE_CHECKING:
    from urllib.parse import SplitResult

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")
OBJECT_KEY_MAX_BYTES = 1024
TRAINING_JOB_ARN_MAX = 256
TRAINING_JOB_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
_TRAINING_JOB_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"training-job/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
)


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Every region of the aws, aws-cn and aws-us-gov partitions, from botocore's data files."""
    from greenrail.aws import data_loader

    loader = data_loader()  # the clients' own: endpoints.json parsed once per process
    regions: set[str] = set()
    for partition in loader.load_data("endpoints")["partitions"]:
        if partition.get("partition") in PARTITIONS:
            regions.update(partition.get("regions", {}))
    try:  # partitions.json (botocore >= 1.31) also lists regions no service endpoint names yet
        for partition in loader.load_data("partitions")["partitions"]:
            if partition.get("id") in PARTITIONS:
                regions.update(partition.get("regions", {}))
    except Exception:  # noqa: BLE001 - an older botocore: endpoints.json alone
        pass
    return frozenset(name for name in regions if not name.endswith("-global"))  # aws-global is no region


def is_account_id(value: object) -> bool:
    return isinstance(value, str) and _ACCOUNT_ID.fullmatch(value) is not None


def is_region(value: object) -> bool:
    return isinstance(value, str) and value in known_regions()


def _region(value: str) -> str:
    if not is_region(value):
        raise ValueError("not a region of the aws, aws-cn or aws-us-gov partition")
    return value


def _bucket_name(value: str) -> str:
    if not _BUCKET.fullmatch(value) or ".." in value or _IP_ADDRESS.fullmatch(value):
        raise ValueError("not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)")
    return value


def _object_key(value: str) -> str:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8") from None
    if not 1 <= size <= OBJECT_KEY_MAX_BYTES:
        raise ValueError(f"an S3 object key is 1 to {OBJECT_KEY_MAX_BYTES} bytes of UTF-8")
    return value


def _utf8_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8 (a lone surrogate)") from None
    return value


_SAGEMAKER_JOB_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"(training-job|processing-job|hyper-parameter-tuning-job)/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
)


def _sagemaker_job_arn(value: str) -> str:
    match = _SAGEMAKER_JOB_ARN.fullmatch(value) if len(value) <= TRAINING_JOB_ARN_MAX else None
    if match is None:
        raise ValueError("not a SageMaker training, processing or tuning job ARN with a twelve-digit account")
    if not is_region(match["region"]):
        raise ValueError("the ARN's region is not a region of the aws, aws-cn or aws-us-gov partition")
    return value


def _training_job_arn(value: str) -> str:
    match = _TRAINING_JOB_ARN.fullmatch(value) if len(value) <= TRAINING_JOB_ARN_MAX else None
    if match is None:
        raise ValueError("not a SageMaker training job ARN with a twelve-digit account")
    if not is_region(match["region"]):
        raise ValueError("the ARN's region is not a region of the aws, aws-cn or aws-us-gov partition")
    return value


AccountId = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]
Region = Annotated[str, AfterValidator(_region)]
BucketName = Annotated[str, AfterValidator(_bucket_name)]
ObjectKey = Annotated[str, AfterValidator(_object_key)]
Utf8Text = Annotated[str, AfterValidator(_utf8_text)]  # what a decision's text can carry (JSON on the bus)
TrainingJobName = Annotated[str, Field(min_length=1, max_length=63, pattern=TRAINING_JOB_NAME_PATTERN)]
TrainingJobArn = Annotated[str, AfterValidator(_training_job_arn)]
SageMakerJobArn = Annotated[str, AfterValidator(_sagemaker_job_arn)]  # training, processing or tuning job
# EventBridge event ids are UUIDs; anything printable (ASCII, no spaces) up to 128 characters is
# taken (tests and replays use their own), nothing that cannot go into a log line or a decision.
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[!-~]+$")]


# ---------------------------------------------------------------- outbound URLs (Slack, carbon sources)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
HTTP_DEFAULT_PORTS = {"http": 80, "https": 443}


def split_http_url(url: str) -> SplitResult:
    """The parts of an http(s) URL with a host and no credentials; ValueError saying why not
    (never quoting the URL: it may be a secret)."""
    from urllib.parse import urlsplit

    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in url):
        raise ValueError("it contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("it is not a valid URL") from None
    if parts.scheme.lower() not in HTTP_DEFAULT_PORTS or not parts.hostname:
        raise ValueError("it is not an http(s) URL with a host")
    if "@" in parts.netloc:
        raise ValueError("it carries credentials (user info)")
    return parts
