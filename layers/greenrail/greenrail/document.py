"""The policy document: one YAML document, validated by pydantic, one section per registered policy.

Unknown keys are errors; every field has a default, documented in the README and in
``policy.example.yaml``. Deployed, the document is read from SSM Parameter Store (the
parameter named by ``GREENRAIL_POLICY_PARAMETER``) through Powertools Parameters, cached;
locally it is a file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from greenrail.config import Strict
from greenrail.permissions import calls
from greenrail.settings import settings

C = TypeVar("C", bound=BaseModel)


class _Document(Strict):
    version: Literal[1] = 1

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


def parse_policy(text: str, source: str = "<policy>") -> Any:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [("(document)", f"not valid YAML: {exc}")]) from exc
    if data is not None and not isinstance(data, dict):
        raise PolicyError(source, [("(document)", "must be a mapping")])
    try:
        return document_model().model_validate(data)
    except ValidationError as exc:
        errors = [
            (".".join(str(part) for part in err["loc"]) or "(document)", err["msg"]) for err in exc.errors()
        ]
        raise PolicyError(source, errors) from exc


def load_policy_file(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(str(path), [("(file)", exc.strerror or str(exc))]) from exc
    return parse_policy(text, str(path))


_SSM_PROVIDERS: dict[int, Any] = {}


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


def load_section(name: str, model: type[C]) -> C:
    """One policy's section of the policy in force (the whole document is validated)."""
    return section(load_policy(), name, model)


@calls("ssm:GetParameter", central=True)
def read_parameter(parameter: str, max_age: int) -> str:
    """The parameter's value, through a Powertools SSMProvider kept for the container's life
    (that is where Powertools caches); ``max_age`` 0 fetches every time."""
    from aws_lambda_powertools.utilities import parameters

    from greenrail.aws import client

    ssm = client("ssm")
    provider = _SSM_PROVIDERS.get(id(ssm))
    if provider is None:
        provider = _SSM_PROVIDERS[id(ssm)] = parameters.SSMProvider(boto3_client=ssm)
    return str(provider.get(parameter, max_age=max_age, force_fetch=max_age == 0))
