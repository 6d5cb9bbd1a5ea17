"""In-memory fakes of Greenrail's ports, for unit tests of the policies without moto.

* :class:`InMemoryCards`: the Model Card store (``greenrail.policies.carbon.CardStore``);
* :class:`InMemoryBus`: the decision bus (a ``publish`` callable, like ``greenrail.bus.publish``);
* :class:`InMemoryOnce`: the idempotency store (``once(subject, work)``, like ``greenrail.state.run_once``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from greenrail.adapters.model_cards import READ_ONLY_STATUSES, ModelCard
from greenrail.decision import Decision


class InMemoryCards:
    """Model Cards as SageMaker keeps them: each content change is a new version; Approved and
    Archived cards refuse content changes (the policy must never try)."""

    def __init__(self) -> None:
        self.versions: dict[str, list[ModelCard]] = {}
        self.tags: dict[str, dict[str, str]] = {}

    def add(self, name: str, content: dict[str, Any] | str, status: str = "Draft") -> None:
        text = content if isinstance(content, str) else json.dumps(content)
        self.versions[name] = [ModelCard(name=name, arn=self._arn(name), version=1, status=status, content=text)]

    @staticmethod
    def _arn(name: str) -> str:
        return f"arn:aws:sagemaker:us-east-1:123456789012:model-card/{name}"

    def describe(self, name: str) -> ModelCard | None:
        return self.versions[name][-1] if name in self.versions else None

    def create_draft(self, name: str, content: str, tags: dict[str, str] | None = None) -> str:
        if name in self.versions:
            raise RuntimeError(f"ConflictException: {name} exists")
        self.add(name, content)
        self.tags[name] = dict(tags or {})
        return self._arn(name)

    def update_content(self, name: str, content: str) -> str:
        latest = self.versions[name][-1]
        if latest.status in READ_ONLY_STATUSES:
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
