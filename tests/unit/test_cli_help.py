"""``--help`` is for people: plain text (no reStructuredText markup from the docstrings it shows)
and help text for every flag of every command."""

from __future__ import annotations

import argparse

import pytest

from greenrail_cli.main import COMMANDS, build_parser


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: subparsers.choices[name] for name in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_plain_text_with_help_for_every_flag(command: str) -> None:
    parser = command_parsers()[command]
    text = parser.format_help()
    assert "``" not in text and ":func:" not in text and ":class:" not in text, text
    unexplained = [a.option_strings for a in parser._actions
                   if a.option_strings and a.help in (None, "") and not isinstance(a, argparse._HelpAction)]
    assert unexplained == []
