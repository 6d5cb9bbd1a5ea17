"""The policy registry: every module of ``greenrail.policies`` that defines ``DEFINITION``.

Nothing is wired by hand: the policy document, ``greenrail scan`` and ``greenrail validate``,
the demo and the template tests all iterate :func:`policies`. The notifier and the auditor are
not policies; their triggers are :func:`core_triggers`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import lru_cache

from greenrail.protocol import PolicyDefinition, Rule, Trigger


@lru_cache(maxsize=1)
def _all() -> tuple[PolicyDefinition, ...]:
    import greenrail.policies as package

    found = []
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        definition = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "DEFINITION", None)
        if isinstance(definition, PolicyDefinition):
            found.append(definition)
    names = [d.name for d in found]
    if len(names) != len(set(names)):
        raise RuntimeError(f"two policies with one name: {names}")
    return tuple(found)


def policies() -> tuple[PolicyDefinition, ...]:
    """Every registered policy, in name order."""
    return _all()


def names() -> list[str]:
    return [definition.name for definition in _all()]


def get(name: str) -> PolicyDefinition:
    for definition in _all():
        if definition.name == name:
            return definition
    raise KeyError(f"unknown policy {name!r} (known: {', '.join(names())})")


DECISION_RULE = Rule("Decision", ("greenrail-decision.json",),
                     ("nearmiss/greenrail-decision-forged-source.json", "s3-object-created.json"))
# Rules of template.yaml whose target is no function of a trigger (the decision log's Firehose
# stream): their logical ids, each with the samples it must match and the near-misses it must not.
DELIVERY_RULES = {"DecisionLogRule": DECISION_RULE}


def _notifier_uses() -> tuple:  # type: ignore[type-arg]
    from greenrail import digest, notify, parameters

    return (notify.publish_sns, notify.slack_webhook_url, digest.hold, parameters.read_parameter)


def _digest_uses() -> tuple:  # type: ignore[type-arg]
    from greenrail import digest, notify, parameters

    return (notify.publish_sns, notify.slack_webhook_url, digest._query, digest._claim, digest._delete,
            parameters.read_parameter)


def _auditor_uses() -> tuple:  # type: ignore[type-arg]
    from greenrail import audit
    from greenrail.adapters import organizations

    # ListAccounts: the accounts whose decisions the auditor accepts (Organization deployments)
    return (audit.import_findings, organizations.active_accounts)


def _org_sweep(name: str) -> Callable[[], tuple]:  # type: ignore[type-arg]
    """``greenrail.flows.org_sweep.<name>``, found like the policies (importlib): the Organization
    sweep runs every policy's scan, so it reads this registry."""
    return lambda: importlib.import_module("greenrail.flows.org_sweep").__dict__[name]()


def core_triggers() -> tuple[Trigger, ...]:
    """The functions every deployment has whatever its policies: the notifier and the auditor
    (and, in Organization deployments, the Organization sweep)."""
    return (
        Trigger("NotifierFunction", _notifier_uses, rules=(DECISION_RULE,)),
        Trigger("DigestFunction", _digest_uses),
        Trigger("AuditorFunction", _auditor_uses, rules=(DECISION_RULE,), member=True),
        # Every policy's sweep across the Organization (Organization deployments)
        Trigger("OrgSweepFunction", _org_sweep("plan_uses")),
        Trigger("OrgSweepWorkerFunction", _org_sweep("worker_uses"), member=True, via_member_role=True),
        Trigger("OrgSweepStateMachine", definition="org_sweep.asl.json"),
    )


def triggers() -> tuple[Trigger, ...]:
    """Every function and state machine of the template, the policies' and the core's."""
    return tuple(t for d in _all() for t in d.triggers) + core_triggers()
