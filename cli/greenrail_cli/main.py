"""The ``greenrail`` command line: validate, scan, carbon, demo.

Each command lives in ``greenrail/commands/<name>.py`` and exposes ``register(subparsers)``;
its parser sets ``func``, which returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("validate", "scan", "carbon", "demo")


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
