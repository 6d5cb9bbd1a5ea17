"""Amazon Resource Names: the one parser (partition, service, region, account, resource)."""

from __future__ import annotations

import re
from typing import NamedTuple

_ARN = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):(?P<service>[\w-]+):(?P<region>[\w-]*):(?P<account>\d{12}|):(?P<resource>.+)$"
)
ACCOUNT_ID = re.compile(r"^\d{12}$")


class Arn(NamedTuple):
    partition: str
    service: str
    region: str  # "" for global resources (S3 buckets, IAM)
    account: str  # "" where the ARN has none (S3)
    resource: str  # what follows the account: "training-job/NAME", "bucket/key", ...

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0].split(":", 1)[0]

    @property
    def name(self) -> str:
        return self.resource.split("/", 1)[1] if "/" in self.resource else self.resource


def parse(text: str | None) -> Arn | None:
    """The parts of ``text`` when it is an ARN (a twelve-digit account or none), else None."""
    match = _ARN.match(text or "")
    return Arn(**match.groupdict()) if match else None


def location(text: str | None) -> tuple[str | None, str | None]:
    """(account, region) of an ARN; None for what it does not carry (or for anything else)."""
    parsed = parse(text)
    if parsed is None:
        return None, None
    return parsed.account or None, parsed.region or None


def account_of(text: str | None) -> str | None:
    return location(text)[0]


def partition_for(region_name: str) -> str:
    if region_name.startswith("cn-"):
        return "aws-cn"
    if region_name.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
