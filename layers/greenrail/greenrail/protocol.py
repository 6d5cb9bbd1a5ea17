"""The one shape of every policy: what the registry, the CLI, the demo and the template tests read.

A policy is one module of ``greenrail.policies`` with a module attribute ``DEFINITION``, a
:class:`PolicyDefinition`:

* ``name`` and ``config``: its section of the policy document (a strict pydantic model);
* ``decide``: pure, typed snapshots in, one :class:`~greenrail.decision.Decision` out;
* ``apply``: carries out one decision through the adapters (enforce mode only);
* ``scan``: every resource of the account and region now (``greenrail scan``);
* ``triggers``: the template's functions that run it, each with the events it must match (sample
  files in ``events/``), the near-misses it must not, and the declared adapter functions its
  code path calls (``@greenrail.permissions.calls``): the IAM actions of its role follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from greenrail.permissions import actions_of, central_actions_of


@dataclass(frozen=True)
class Rule:
    """One EventBridge rule of a function in template.yaml (``<Function><EventName>`` once rendered)."""

    name: str  # the function's event name in template.yaml, e.g. "ObjectCreated"
    matches: tuple[str, ...]  # sample events (paths under events/) the pattern must match
    near_misses: tuple[str, ...] = ()  # sample events it must not match


@dataclass(frozen=True)
class Trigger:
    """A Lambda function or state machine of template.yaml that runs (part of) a policy."""

    resource: str  # logical id in template.yaml
    uses: Callable[[], tuple[Callable[..., Any], ...]] | None = None  # a function's declared calls
    rules: tuple[Rule, ...] = ()
    member: bool = False  # acts in member accounts through their Greenrail role (Organization)
    # Acts in every account, its own too, only through the member role (the Organization sweep's
    # worker): its own role grants only its central calls, the member role grants the others.
    via_member_role: bool = False
    # A state machine's ASL file (statemachines/): its role's actions follow from its Task states.
    definition: str | None = None

    def actions(self, member_side: bool = False) -> frozenset[str]:
        """The IAM actions a function's role needs (``member_side``: those the member account's
        role needs); a state machine's are read from its definition by the template tests."""
        return actions_of(self.uses(), member_side=member_side) if self.uses else frozenset()

    def role_actions(self) -> frozenset[str]:
        """The IAM actions the function's own role needs: all of :meth:`actions`, or only the
        central ones when it acts only through member roles (``via_member_role``)."""
        if not self.via_member_role:
            return self.actions()
        return central_actions_of(self.uses()) if self.uses else frozenset()


@dataclass(frozen=True)
class PolicyDefinition:
    name: str
    config: type[BaseModel]
    decide: Callable[..., Any]
    apply: Callable[..., Any]
    scan: Callable[..., list[Any]] | None
    triggers: tuple[Trigger, ...]
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def permissions(self, member_side: bool = False) -> frozenset[str]:
        found: set[str] = set()
        for trigger in self.triggers:
            found |= trigger.actions(member_side)
        return frozenset(found)
