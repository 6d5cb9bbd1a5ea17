"""Environment variables set for the duration of a block (the CLI also runs in-process, in tests)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def variables(values: dict[str, str]) -> Iterator[None]:
    """``values`` set within the block, each variable as it was afterwards (unset if it was);
    Greenrail's clients are rebuilt on both sides (they are cached with their configuration)."""
    from greenrail.aws import reset_clients

    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    reset_clients()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_clients()
