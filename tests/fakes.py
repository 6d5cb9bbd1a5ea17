"""In-memory fakes of Greenrail's ports, for unit tests of the policies without moto.

* :class:`InMemoryCards`: the Model Card store (``greenrail.policies.carbon.CardStore``);
* :class:`InMemoryBus`: the decision bus (a ``publish`` callable, like ``greenrail.bus.publish``);
* :class:`InMemoryOnce`: the idempotency store (``once(subject, work)``, like ``greenrail.state.run_once``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from greenrail.adapters.model_cards import ModelCard
from greenrail.decision import Decision

WRITABLE_STATUS = "Draft"  # SageMaker itself would take PendingReview content; Greenrail must not write it


class InMemoryCards:
    """Model Cards as SageMaker keeps them: each content change is a new version. Greenrail may
    write only Draft cards, so any other status refuses content changes (the policy must never try).

    Also the SageMaker models and model packages a card's content may name (``add_model``,
    ``add_model_package``: their ModelDataUrl), and each card's tags.
    """

    def __init__(self) -> None:
        self.versions: dict[str, list[ModelCard]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.models: dict[str, list[str]] = {}  # model name -> its containers' ModelDataUrl
        self.model_packages: dict[str, list[str]] = {}  # model package ARN -> its containers' ModelDataUrl

    def add(self, name: str, content: dict[str, Any] | str, status: str = "Draft",
            tags: dict[str, str] | None = None) -> None:
        text = content if isinstance(content, str) else json.dumps(content)
        self.versions[name] = [ModelCard(name=name, arn=self._arn(name), version=1, status=status, content=text)]
        self.tags[name] = dict(tags or {})

    def add_model(self, name: str, model_data_url: str) -> None:
        self.models[name] = [model_data_url]

    def add_model_package(self, arn: str, model_data_url: str) -> None:
        self.model_packages[arn] = [model_data_url]

    @staticmethod
    def _arn(name: str) -> str:
        return f"arn:aws:sagemaker:us-east-1:123456789012:model-card/{name}"

    def describe(self, name: str) -> ModelCard | None:
        return self.versions[name][-1] if name in self.versions else None

    def card_tags(self, arn: str) -> dict[str, str]:
        return dict(self.tags.get(arn.rsplit("/", 1)[-1], {}))

    def model_data_urls(self, name: str) -> list[str]:
        return list(self.models.get(name, []))

    def model_package_data_urls(self, name_or_arn: str) -> list[str]:
        return list(self.model_packages.get(name_or_arn, []))

    def create_draft(self, name: str, content: str, tags: dict[str, str] | None = None) -> str:
        if name in self.versions:
            raise RuntimeError(f"ConflictException: {name} exists")
        self.add(name, content, tags=tags)
        return self._arn(name)

    def update_content(self, name: str, content: str) -> str:
        latest = self.versions[name][-1]
        if latest.status != WRITABLE_STATUS:
            raise AssertionError(f"wrote to a {latest.status} card")
        self.versions[name].append(latest.model_copy(update={"version": latest.version + 1, "content": content}))
        return latest.arn

    def content(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.versions[name][-1].content))


class InMemoryBus:
    def __init__(self, fail_times: int = 0) -> None:
        self.decisions: list[Decision] = []
        self.fail_times = fail_times

    def __call__(self, decisions: list[Decision]) -> int:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("PutEvents failed")
        self.decisions.extend(decisions)
        return len(decisions)


class InMemoryOnce:
    """Runs ``work`` once per subject and replays its result (exceptions are not remembered)."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}

    def __call__(self, subject: dict[str, Any], work: Callable[[], Any]) -> Any:
        key = json.dumps(subject, sort_keys=True)
        if key not in self.results:
            self.results[key] = work()
        return self.results[key]
