"""The policy document: one YAML document, validated by pydantic, one section per registered policy.

Unknown keys are errors; every field has a default, documented in the README and in
``policy.example.yaml``. Deployed, the document is read from SSM Parameter Store (the
parameter named by ``GREENRAIL_POLICY_PARAMETER``) through Powertools Parameters, cached;
locally it is a file.
"""

from __future__ import annotations

import json
import re
import types
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

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
    import difflib  # only for a document with an unknown key

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
    data = _data(text, source, require_content)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _errors(exc)) from exc


def _data(text: str, source: str, require_content: bool) -> dict[str, Any] | None:
    """The document's data, before validation: within the size limit, JSON or YAML, a mapping
    (None for an empty document, unless ``require_content``). Raises PolicyError naming ``source``."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise PolicyError(source, [("(document)", _too_large(size))])
    data = _plain_json(text)
    if data is None:  # YAML (or JSON that only the YAML reader may judge): PyYAML, loaded now
        from greenrail import policy_yaml

        try:
            data = policy_yaml.load(text)
        except policy_yaml.YAMLError as exc:
            raise PolicyError(source, [("(document)", policy_yaml.message(exc, text))]) from exc
    if data is None and require_content:
        raise PolicyError(
            source, [("(document)", "empty document: a policy document says at least `version: 1`")]
        )
    if data is not None and not isinstance(data, dict):
        raise PolicyError(source, [("(document)", "must be a mapping")])
    return data


# JSON that the YAML reader reads the same: printable ASCII (no tab, which YAML refuses between
# tokens), no backslash (JSON's escapes are not all YAML's), no number with an exponent (YAML 1.1
# reads 1e5 as a string), no duplicate key, no NaN/Infinity, a mapping, nested well under
# the YAML reader's bound (policy_yaml.MAX_NESTING, 32 levels), each key on one line with its
# colon and short (YAML's simple keys).
_NOT_PLAIN = re.compile(r"[^\n\r\x20-\x5b\x5d-\x7e]|\"[ \r\n]*(?:[\r\n]|[ ]{32})[ \r\n]*:")
_MAX_KEY = 256
_MAX_DEPTH = 16


class _NotPlain(ValueError):
    """JSON the YAML reader may read otherwise (or refuse): left to it."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs) or any(len(key) > _MAX_KEY for key in found):
        raise _NotPlain("duplicate key")
    return found


def _no_exponent(literal: str) -> float:
    if "e" in literal or "E" in literal:
        raise _NotPlain(literal)
    return float(literal)


def _not_plain(literal: str) -> Any:
    raise _NotPlain(literal)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 1


def _plain_json(text: str) -> dict[str, Any] | None:
    """The document's data when ``text`` is plain JSON, which YAML reads the same way (the
    ``json`` module is already loaded; PyYAML is not); None for anything else."""
    if not text.lstrip().startswith("{") or _NOT_PLAIN.search(text):
        return None
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_float=_no_exponent, parse_constant=_not_plain)
    except (ValueError, RecursionError):  # not JSON, or not plain: the YAML reader says what is wrong
        return None
    if not isinstance(data, dict) or _depth(data) > _MAX_DEPTH:
        return None
    return data


def _too_large(size: int) -> str:
    return (
        f"{size:,} bytes, over the {MAX_DOCUMENT_BYTES:,} bytes a policy document can have"
        " (SSM Parameter Store quota: an Advanced parameter value holds at most 8 KB)"
    )


def load_policy_file(path: str | Path) -> Any:
    """The validated document in a file; an empty file (or one with only comments) is an error."""
    return parse_policy(_file_text(path), str(path), require_content=True)


def _file_text(path: str | Path) -> str:
    """A policy file's text: at most MAX_DOCUMENT_BYTES (its byte-order mark counted), UTF-8.
    Raises PolicyError naming the file."""
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
    return text


def _source() -> tuple[str, str, bool] | None:
    """The policy in force's (text, source, require_content), None for the defaults: the SSM
    parameter when deployed (its errors propagate), else the local file (PolicyError)."""
    config = settings()
    if config.policy_parameter:
        text = read_parameter(config.policy_parameter, config.policy_cache_seconds)
        return text, f"ssm:{config.policy_parameter}", False
    if config.policy_file:
        return _file_text(config.policy_file), str(Path(config.policy_file)), True
    return None


def load_policy() -> Any:
    """The policy in force: SSM parameter when deployed, a file or the defaults locally.

    ``GREENRAIL_POLICY_PARAMETER`` names an SSM parameter (cached by Powertools for
    ``GREENRAIL_POLICY_CACHE_SECONDS``, default 300); ``GREENRAIL_POLICY_FILE`` a local file.
    """
    found = _source()
    if found is None:
        return PolicyDocument()
    text, source, require_content = found
    return parse_policy(text, source, require_content=require_content)


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


@lru_cache(maxsize=1)
def _section_names() -> frozenset[str]:
    """The document's top-level keys: ``version``, ``notifications`` and one per policy module
    (the registry's names are its modules'), found without importing any of them; listed once
    per process, not on every invocation."""
    import pkgutil

    from greenrail import policies

    return frozenset({"version", "notifications", *(m.name for m in pkgutil.iter_modules(policies.__path__))})


def _section_data(name: str) -> tuple[bool, Any]:
    """(found, the raw data of section ``name``) when the document in force is well formed and
    holds nothing a whole validation could refuse outside that section; (False, None) otherwise.
    It is read as the whole document is (:func:`_source`, :func:`_data`)."""
    try:
        found = _source()
    except PolicyError:  # a file that cannot be read: the whole document's error
        return False, None
    if found is None:
        return True, None  # no document: the defaults
    try:
        data = _data(*found)
    except Exception:  # noqa: BLE001 - PolicyError, and what PyYAML raises besides: the whole document's error
        return False, None
    data = {} if data is None else data
    if not set(data) <= _section_names() or data.get("version", 1) != 1 \
            or type(data.get("version", 1)) is not int or (name in data and not isinstance(data[name], dict)):
        return False, None
    return True, data.get(name)


def load_section(name: str, model: type[C]) -> C:
    """One policy's section of the policy in force, validated alone (with the document's shape: a
    mapping, ``version: 1``, known top-level keys): a function builds only its own policy's
    models and imports no other policy's module (a shorter cold start and first invocation), and
    a mistake in another policy's section does not stop this one (``greenrail validate`` and that
    policy's functions name it). Anything wrong in what is read here is reported as the whole
    document's validation reports it: the same PolicyError, the same lines."""
    found, data = _section_data(name)
    if found:
        try:
            return model.model_validate(data if data is not None else {})
        except Exception:  # noqa: BLE001 - the whole document's validation names it, with its path
            pass
    return section(load_policy(), name, model)
