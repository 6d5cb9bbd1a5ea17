"""IAM actions, declared by the code that calls AWS.

Every function that calls an AWS API carries ``@calls("service:Action", ...)``: the actions
its calls need. Each policy's triggers list the functions their code path uses
(``greenrail.protocol.Trigger.uses``), so the IAM actions of every Lambda role follow from the
code; ``tests/unit/test_permissions.py`` holds the rendered templates to exactly those actions,
both ways (nothing missing, nothing more). The local emulator goes further and refuses, at run
time, a call whose actions the calling function's role does not grant (``guarded``).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Set by the emulator while a function runs: called with the actions of every declared call.
_guard: contextvars.ContextVar[Callable[[frozenset[str], str], None] | None] = contextvars.ContextVar(
    "greenrail_permission_guard", default=None
)


def calls(*actions: str, central: bool = False) -> Callable[[F], F]:
    """Declare the IAM actions the decorated function's AWS calls need.

    ``central``: the call is only ever made in Greenrail's own (central) account, never through a
    member account's role, so the member role does not need the action.
    """
    declared = frozenset(actions)
    for action in declared:
        service, _, name = action.partition(":")
        if not service or not name or "*" in action:
            raise ValueError(f"not an IAM action: {action!r}")

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            guard = _guard.get()
            if guard is not None:
                guard(declared, function.__qualname__)
            return function(*args, **kwargs)

        wrapper.iam_actions = declared  # type: ignore[attr-defined]
        wrapper.iam_central = central  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def actions_of(functions: Iterable[Callable[..., Any]], member_side: bool = False) -> frozenset[str]:
    """The IAM actions the given declared functions need (``member_side``: without central-only ones)."""
    found: set[str] = set()
    for function in functions:
        declared = getattr(function, "iam_actions", None)
        if declared is None:
            raise TypeError(f"{getattr(function, '__qualname__', function)!r} declares no IAM actions (@calls)")
        if member_side and getattr(function, "iam_central", False):
            continue
        found |= declared
    return frozenset(found)


def central_actions_of(functions: Iterable[Callable[..., Any]]) -> frozenset[str]:
    """The IAM actions of the given declared functions that are only ever called in Greenrail's own account."""
    return actions_of([f for f in functions if getattr(f, "iam_central", False)])


@contextmanager
def guarded(check: Callable[[frozenset[str], str], None]) -> Iterator[None]:
    """Within the block, every declared call is first shown to ``check`` (which raises to refuse it)."""
    token = _guard.set(check)
    try:
        yield
    finally:
        _guard.reset(token)
