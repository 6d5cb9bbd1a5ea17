"""What an IAM role of a rendered (SAM-transformed) template allows: its actions, by condition.

moto does not enforce IAM. The emulator reads each function role's actions from the template it
deployed and, while the function runs, refuses any declared call (``greenrail.permissions``)
whose actions the role does not grant; ``tests/unit/test_permissions.py`` compares the same sets
with what the code declares.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

AWS_MANAGED = ("AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess")


class UndeclaredPermission(PermissionError):
    """A function called AWS for an action its role does not grant (AccessDenied in AWS)."""


def _branch(value: Any, condition: Callable[[str], bool]) -> Any:
    """``value`` with every ``Fn::If`` chosen; None for ``AWS::NoValue``."""
    while isinstance(value, dict) and "Fn::If" in value:
        name, when_true, when_false = value["Fn::If"]
        value = when_true if condition(name) else when_false
    if value == {"Ref": "AWS::NoValue"}:
        return None
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statement_actions(document: dict[str, Any], condition: Callable[[str], bool]) -> set[str]:
    actions: set[str] = set()
    for statement in _as_list(document.get("Statement", [])):
        statement = _branch(statement, condition)
        if statement and statement.get("Effect", "Allow") == "Allow":
            actions |= {str(a) for a in _as_list(statement.get("Action", []))}
    return actions


def role_actions(resources: dict[str, Any], role: str, condition: Callable[[str], bool]) -> frozenset[str]:
    """Every action the role's inline policies and customer managed policies of the template allow
    (AWS managed logging and tracing policies excepted)."""
    properties = resources[role]["Properties"]
    actions: set[str] = set()
    for policy in properties.get("Policies", []):
        policy = _branch(policy, condition)
        if policy:
            actions |= statement_actions(policy["PolicyDocument"], condition)
    for arn in properties.get("ManagedPolicyArns", []):
        arn = _branch(arn, condition)
        if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in resources:
            actions |= statement_actions(resources[arn["Ref"]]["Properties"]["PolicyDocument"], condition)
        elif arn is not None and not any(name in str(arn) for name in AWS_MANAGED):
            raise ValueError(f"{role}: managed policy {arn!r} is neither the template's nor an allowed AWS one")
    return frozenset(actions)


def role_of(resource: dict[str, Any]) -> str | None:
    """The logical id of a function's or state machine's role (``Fn::GetAtt [Role, Arn]``)."""
    role = resource.get("Properties", {}).get("Role") or resource.get("Properties", {}).get("RoleArn")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def member_role_actions(path: Path) -> frozenset[str]:
    """What the member account's execution role (org/member-account.yaml) allows."""
    from greenrail_cli.emulator.deploy import load_template

    role = load_template(path)["Resources"]["ExecutionRole"]["Properties"]
    actions: set[str] = set()
    for policy in role.get("Policies", []):
        actions |= statement_actions(policy["PolicyDocument"], lambda name: True)
    return frozenset(actions)


def guard_for(function: str, granted: frozenset[str],
              member_granted: frozenset[str] | None = None) -> Callable[[frozenset[str], str], None]:
    """``member_granted``: what the member role allows, for the calls made while a member role is
    assumed (``greenrail.aws.acting_in``); the function's own role allows the others."""
    def check(actions: frozenset[str], called: str) -> None:
        from greenrail.aws import acting_role

        allowed = granted | member_granted if member_granted is not None and acting_role() else granted
        missing = sorted(actions - allowed)
        if missing:
            raise UndeclaredPermission(f"{function} called {called}, which needs {missing}: not granted to its role")

    return check
