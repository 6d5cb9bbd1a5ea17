"""The policy document's YAML reader: strict (no duplicate keys, bounded nesting), one-line errors.

Imported by :mod:`greenrail.document` only for a document that is not plain JSON (JSON is YAML,
and read by the ``json`` module, already loaded, with the same result): importing PyYAML is a
sizeable part of a handler's cold start.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NESTING = 32  # the document is 4 levels deep; deeper is a mistake (and PyYAML recurses)
YAMLError = yaml.YAMLError


def load(text: str) -> Any:
    """The data of the one YAML document in ``text``; raises :class:`yaml.YAMLError`."""
    loader = _StrictLoader(text)  # the reader refuses control characters here already
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _Refused(yaml.MarkedYAMLError):
    """Well-formed YAML that a policy document still cannot be; ``problem`` says where and why."""


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (at any depth) and absurd nesting, and turns a
    scalar it cannot construct (an integer over Python's digit limit, a date like 2024-13-45)
    into an error with its line and column instead of a bare ValueError."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark
                raise _Refused(
                    problem=f"{_at(mark)}: nested more than {MAX_NESTING} levels deep", problem_mark=mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            tag = str(node.tag).rsplit(":", 1)[-1]
            kind = {"int": "integer", "float": "number", "timestamp": "date"}.get(tag, tag)
            reason = str(exc).split(";")[0]  # not Python's advice to raise its own limit
            raise _Refused(
                problem=f"{_at(node.start_mark)}: cannot read this {kind}: {reason}",
                problem_mark=node.start_mark,
            ) from exc

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # merged keys may be overridden; complex keys are refused by the model
                key = self.construct_object(key_node)
                first = seen.setdefault(key, key_node)
                if first is not key_node:
                    raise _Refused(
                        problem=f"duplicate key {key!r} on line {key_node.start_mark.line + 1}"
                        f" (first on line {first.start_mark.line + 1})",
                        problem_mark=key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def message(exc: yaml.YAMLError, text: str) -> str:
    """A YAML error on one line, with its line and column."""
    if isinstance(exc, _Refused):
        return str(exc.problem)
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"not valid YAML at line {line}, column {column}: character #x{code:04x} ({exc.reason})"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        message = f"not valid YAML at {_at(exc.problem_mark)}: {exc.problem}"
        if exc.context:
            started = f" at {_at(exc.context_mark)}" if exc.context_mark is not None else ""
            message += f" ({exc.context}{started})"
        return message
    return "not valid YAML: " + " ".join(str(exc).split())
