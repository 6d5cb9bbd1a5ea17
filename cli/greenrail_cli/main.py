"""The ``greenrail`` command line: validate, scan, carbon, demo, report.

Each command lives in ``greenrail/commands/<name>.py`` and exposes ``register(subparsers)``;
its parser sets ``func``, which returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

COMMANDS = ("validate", "scan", "carbon", "demo", "report")

# botocore's defaults suit Lambda (60 s connect and read timeouts, retries within the function's
# timeout) but held an interactive `greenrail scan` for six minutes on an endpoint that never
# answered. The CLI sets these for its own process unless they are set already.
INTERACTIVE_AWS_DEFAULTS = {
    "GREENRAIL_AWS_CONNECT_TIMEOUT": "5",
    "GREENRAIL_AWS_READ_TIMEOUT": "6",
    "GREENRAIL_AWS_MAX_ATTEMPTS": "2",  # in all: an unanswered call gives up after 2 x 6 s
}
# The reader closed the pipe (`greenrail scan | head -1`): stop quietly, with the status a process
# killed by SIGPIPE has (128 + 13), as `cat` or `grep` would give.
EXIT_BROKEN_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    from greenrail import __version__

    parser = argparse.ArgumentParser(
        prog="greenrail",
        description="Guardrails that make ML workloads on AWS cheaper and lower-carbon.",
    )
    parser.add_argument("--version", action="version", version=f"greenrail {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"greenrail_cli.commands.{name}").register(subparsers)
    for command in subparsers.choices.values():  # the commands' docstrings, shown as plain text
        command.description = (command.description or "").replace("``", "") or None
    return parser


@contextmanager
def interactive_aws_defaults() -> Iterator[None]:
    """INTERACTIVE_AWS_DEFAULTS for the variables not set (an empty one counts as unset), for the
    duration of the command: ``main`` also runs in-process (tests), and must not leak them."""
    from greenrail_cli.environ import variables

    with variables({name: value for name, value in INTERACTIVE_AWS_DEFAULTS.items() if not os.environ.get(name)}):
        yield


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with interactive_aws_defaults():
        try:
            code: int = args.func(args)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
        except BrokenPipeError:
            # Python flushes stdout again at exit: point it at /dev/null so that flush cannot fail
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
