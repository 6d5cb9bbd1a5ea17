"""STS: an AssumeRole that is refused, as AWS refuses a role whose trust policy does not name the caller.

moto 5.2.5 lets anyone assume any role ARN, existing or not (its docstring says so), so a member
account whose Greenrail role is missing or does not trust the caller cannot be emulated.
:func:`refuse_assume_role` makes AssumeRole of one role ARN fail with ``AccessDenied`` (a fault
for tests to inject), with the message AWS gives.
"""

from __future__ import annotations

from typing import Any

from moto.sts import models as sts_models
from moto.sts.exceptions import STSClientError

_original_assume_role = sts_models.STSBackend.assume_role
REFUSED: set[str] = set()


class _AccessDenied(STSClientError):
    def __init__(self, role_arn: str):
        super().__init__("AccessDenied", f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}")


def refuse_assume_role(role_arn: str) -> None:
    """AssumeRole of ``role_arn`` fails with AccessDenied from now on (in this emulator)."""
    REFUSED.add(role_arn)


def assume_role(self: Any, *args: Any, **kwargs: Any) -> Any:
    role_arn = kwargs.get("role_arn") or (args[2] if len(args) > 2 else None)
    if role_arn in REFUSED:
        raise _AccessDenied(str(role_arn))
    return _original_assume_role(self, *args, **kwargs)


def apply() -> None:
    sts_models.STSBackend.assume_role = assume_role  # type: ignore[method-assign]
