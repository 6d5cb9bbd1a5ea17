"""The policy document: one YAML document, validated by pydantic, one section per registered policy.

Unknown keys are errors; every field has a default, documented in the README and in
``policy.example.yaml``. Deployed, the document is read from SSM Parameter Store (the
parameter named by ``GREENRAIL_POLICY_PARAMETER``) through Powertools Parameters, cached;
locally it is a file.
"""

from __future__ import annotations

import difflib
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from greenrail.config import NotificationsConfig, Strict
from greenrail.parameters import read_parameter
from greenrail.settings import settings

C = TypeVar("C", bound=BaseModel)


class _Document(Strict):
    version: Literal[1] = 1
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig,
                                               description="digests instead of one message per decision")

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, data: Any) -> Any:
        return {} if data is None else data


@lru_cache(maxsize=1)
def document_model() -> type[BaseModel]:
    """The document's model: ``version`` and one section per registered policy."""
    from greenrail.registry import policies

    sections: dict[str, Any] = {
        d.name: (d.config, Field(default_factory=d.config, description=d.summary)) for d in policies()
    }
    model: type[BaseModel] = create_model("PolicyDocument", __base__=_Document, **sections)
    return model


def PolicyDocument(**sections: Any) -> Any:  # noqa: N802 - reads like the model it builds
    """A policy document (every policy's defaults unless given)."""
    return document_model().model_validate(sections)


def section(document: Any, name: str, model: type[C]) -> C:
    """One policy's section of a document, typed."""
    value = getattr(document, name)
    if not isinstance(value, model):
        raise TypeError(f"section {name} is a {type(value).__name__}, not {model.__name__}")
    return value


class PolicyError(Exception):
    """A policy document that cannot be used; ``errors`` lists (path, message)."""

    def __init__(self, source: str, errors: list[tuple[str, str]]):
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(f"{path}: {msg}" for path, msg in errors))

    def lines(self) -> list[str]:
        """What ``greenrail validate`` and ``greenrail scan`` print: one ``source: path: message``
        line per error, then the count."""
        return [
            f"{self.source}: {path}: {' '.join(message.splitlines())}" for path, message in self.errors
        ] + [f"{self.source}: {len(self.errors)} error(s)"]


# The document lives in an SSM Advanced-tier parameter (template.yaml), whose value is at most
# 8 KB (SSM Parameter Store quota; a Standard parameter holds 4 KB): a larger document cannot be
# deployed, so it is refused everywhere.
MAX_DOCUMENT_BYTES = 8 * 1024
MAX_NESTING = 32  # the document is 4 levels deep; deeper is a mistake (and PyYAML recurses)


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


def _yaml_message(exc: yaml.YAMLError, text: str) -> str:
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


def _errors(exc: ValidationError) -> list[tuple[str, str]]:
    errors = []
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"]) or "(document)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key" + _hint(err["loc"])
        errors.append((path, message))
    return errors


def _hint(loc: tuple[Any, ...]) -> str:
    """`` (did you mean X?)`` from the field names of the model the unknown key was found in."""
    known = _field_names(document_model(), loc[:-1])
    if not known:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]}?)" if close else f" (known keys: {', '.join(known)})"


def _field_names(annotation: Any, loc: tuple[Any, ...]) -> list[str]:
    for part in loc:
        annotation = _step(annotation, part)
    for candidate in _members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(candidate.model_fields)
    return []


def _members(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [arg for arg in get_args(annotation) if arg is not type(None)]
    return [annotation]


def _step(annotation: Any, part: Any) -> Any:
    """The annotation one step down ``part`` (a field name, a list index or a dict key)."""
    for candidate in _members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            field = candidate.model_fields.get(str(part))
            if field is not None:
                return field.annotation
        elif get_origin(candidate) in (list, tuple, set, frozenset) and get_args(candidate):
            return get_args(candidate)[0]
        elif get_origin(candidate) is dict and len(get_args(candidate)) == 2:
            return get_args(candidate)[1]
    return None


def parse_policy(text: str, source: str = "<policy>", *, require_content: bool = False) -> Any:
    """The validated document in ``text``; raises PolicyError naming ``source``, never anything else
    (short of KeyboardInterrupt). Empty text is every policy's defaults unless ``require_content``."""
    model = document_model()  # outside the guard: a broken registry is not the document's fault
    try:
        return _parse(text, source, model, require_content)
    except PolicyError:
        raise
    except RecursionError as exc:
        raise PolicyError(source, [("(document)", "nested too deeply to read")]) from exc
    except Exception as exc:  # noqa: BLE001 - a document must never produce a traceback
        raise PolicyError(source, [("(document)", f"cannot be read: {type(exc).__name__}: {exc}")]) from exc


def _parse(text: str, source: str, model: type[BaseModel], require_content: bool) -> Any:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise PolicyError(source, [("(document)", _too_large(size))])
    try:
        loader = _StrictLoader(text)  # the reader refuses control characters here already
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise PolicyError(source, [("(document)", _yaml_message(exc, text))]) from exc
    if data is None and require_content:
        raise PolicyError(
            source, [("(document)", "empty document: a policy document says at least `version: 1`")]
        )
    if data is not None and not isinstance(data, dict):
        raise PolicyError(source, [("(document)", "must be a mapping")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _errors(exc)) from exc


def _too_large(size: int) -> str:
    return (
        f"{size:,} bytes, over the {MAX_DOCUMENT_BYTES:,} bytes a policy document can have"
        " (SSM Parameter Store quota: an Advanced parameter value holds at most 8 KB)"
    )


def load_policy_file(path: str | Path) -> Any:
    """The validated document in a file; an empty file (or one with only comments) is an error."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_DOCUMENT_BYTES + 1)
            if len(raw) > MAX_DOCUMENT_BYTES:
                raise PolicyError(str(path), [("(file)", _too_large(path.stat().st_size))])
    except OSError as exc:
        raise PolicyError(str(path), [("(file)", exc.strerror or str(exc))]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(
            str(path), [("(file)", f"not valid UTF-8: byte 0x{raw[exc.start]:02x} on line {line}")]
        ) from exc
    return parse_policy(text, str(path), require_content=True)


def load_policy() -> Any:
    """The policy in force: SSM parameter when deployed, a file or the defaults locally.

    ``GREENRAIL_POLICY_PARAMETER`` names an SSM parameter (cached by Powertools for
    ``GREENRAIL_POLICY_CACHE_SECONDS``, default 300); ``GREENRAIL_POLICY_FILE`` a local file.
    """
    config = settings()
    if config.policy_parameter:
        text = read_parameter(config.policy_parameter, config.policy_cache_seconds)
        return parse_policy(text, f"ssm:{config.policy_parameter}")
    if config.policy_file:
        return load_policy_file(config.policy_file)
    return PolicyDocument()


def notifications_config() -> NotificationsConfig | None:
    """The ``notifications`` section of the policy in force; None when the document cannot be
    read (the notifier then sends each decision at once: a broken document must not silence
    Greenrail). The error is logged by name, never the document."""
    import logging

    try:
        config = load_policy().notifications
    except Exception as exc:  # PolicyError, SSM errors
        logging.getLogger(__name__).error(
            "policy document unreadable: decisions are notified one by one",
            extra={"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
        return None
    return config if isinstance(config, NotificationsConfig) else None


def load_section(name: str, model: type[C]) -> C:
    """One policy's section of the policy in force (the whole document is validated)."""
    return section(load_policy(), name, model)
