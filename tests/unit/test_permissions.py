"""Least privilege, derived from the code: every role grants exactly what its code path declares.

The code declares the IAM actions of every AWS call (``@greenrail.permissions.calls``); each
policy's triggers list the declared functions their code path uses (``greenrail.protocol``).
Here both templates are rendered (``template.yaml`` through the SAM transform, offline;
``org/member-account.yaml`` as it is) and each role is compared with the code, both ways:
nothing missing (no AccessDenied in production) and nothing more (least privilege).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from greenrail.permissions import guarded
from greenrail.protocol import Trigger
from greenrail.registry import triggers
from greenrail_cli.emulator.deploy import load_template, sam_transform
from greenrail_cli.emulator.iam import (
    UndeclaredPermission,
    guard_for,
    role_actions,
    role_of,
    statement_actions,
)
from tests.conftest import ROOT

LAYER = ROOT / "layers" / "greenrail"
# Every optional feature on, so that every conditional grant is rendered.
ALL_ON = {
    "OrganizationId": "o-abcdefghij",
    "SlackWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf",
    "BatchOperationsRoleArn": "arn:aws:iam::123456789012:role/greenrail-batch",
    "ManifestBucket": "greenrail-manifests",
}
ASSUME_MEMBER_ROLE = "sts:AssumeRole"  # MemberAccessPolicy: how member triggers act in member accounts
# Lambda itself sends a failed asynchronous event to the function's dead-letter queue with the
# function's role (Globals: DeadLetterQueue): the platform's need, not a call of the code.
LAMBDA_DEAD_LETTERS = frozenset({"sqs:SendMessage"})
# What a state machine's states need (Service Authorization Reference): a Lambda Task invokes
# the function; a Distributed Map runs its items as child executions.
LAMBDA_TASK = frozenset({"lambda:InvokeFunction"})
DISTRIBUTED_MAP = frozenset({"states:StartExecution", "states:DescribeExecution", "states:StopExecution"})
# A Distributed Map's ItemReader reads its source with the state machine's role (s3:getObject;
# s3:listObjectsV2 needs ListBucket); its ResultWriter writes the results, multipart for large ones.
ITEM_READER = {"arn:aws:states:::s3:getObject": frozenset({"s3:GetObject"}),
               "arn:aws:states:::s3:listObjectsV2": frozenset({"s3:ListBucket"})}
RESULT_WRITER = frozenset({"s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"})


@lru_cache(maxsize=2)
def rendered(options_on: bool) -> dict[str, Any]:
    raw = load_template(ROOT / "template.yaml")
    params = {name: str(spec.get("Default", "")) for name, spec in raw.get("Parameters", {}).items()}
    if options_on:
        params.update(ALL_ON)
    cfn, _ = sam_transform(raw, ROOT, params)
    resources: dict[str, Any] = cfn["Resources"]
    return resources


def condition(options_on: bool) -> Callable[[str], bool]:
    return lambda name: options_on


def asl_actions(path: Path) -> frozenset[str]:
    """The actions a state machine's definition needs, read from its states."""
    found: set[str] = set()

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            if state.get("Type") == "Task" and str(state.get("Resource", "")).startswith("arn:aws:states:::lambda:invoke"):
                found.update(LAMBDA_TASK)
            elif state.get("Type") == "Task":
                raise AssertionError(f"{path.name}: no mapping for Task resource {state.get('Resource')}")
            if state.get("Type") == "Map":
                processor = state.get("ItemProcessor") or state.get("Iterator") or {}
                if (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
                    found.update(DISTRIBUTED_MAP)
                if "ItemReader" in state:
                    found.update(ITEM_READER[state["ItemReader"]["Resource"]])
                if "ResultWriter" in state:
                    found.update(RESULT_WRITER)
                walk(processor.get("States", {}))
            for branch in state.get("Branches", []):
                walk(branch.get("States", {}))

    walk(json.loads(path.read_text())["States"])
    return frozenset(found)


def declared(trigger: Trigger) -> frozenset[str]:
    if trigger.definition:
        return asl_actions(ROOT / "statemachines" / trigger.definition)
    # role_actions: a trigger that acts only through member roles (via_member_role) needs only its
    # central calls in its own role; the member role grants the rest (test_member_role_...)
    return trigger.role_actions() | LAMBDA_DEAD_LETTERS | ({ASSUME_MEMBER_ROLE} if trigger.member else set())


def compare(resources: dict[str, Any], trigger: Trigger, options_on: bool) -> tuple[set[str], set[str]]:
    """(declared but not granted, granted but not declared) for the trigger's role."""
    assert trigger.resource in resources, f"{trigger.resource} is not in template.yaml"
    role = role_of(resources[trigger.resource])
    assert role, f"{trigger.resource} has no role of the template's"
    granted = role_actions(resources, role, condition(options_on))
    wanted = declared(trigger)
    return set(wanted - granted), set(granted - wanted)


@pytest.mark.parametrize("trigger", triggers(), ids=lambda t: t.resource)
def test_each_role_grants_exactly_what_its_code_declares(trigger: Trigger) -> None:
    missing, extra = compare(rendered(True), trigger, options_on=True)
    assert not missing, f"{trigger.resource}: its code calls {sorted(missing)}, which its role does not grant"
    assert not extra, f"{trigger.resource}: its role grants {sorted(extra)}, which no code it runs declares"


@pytest.mark.parametrize("trigger", triggers(), ids=lambda t: t.resource)
def test_with_the_options_off_roles_grant_nothing_more(trigger: Trigger) -> None:
    _, extra = compare(rendered(False), trigger, options_on=False)
    assert not extra, f"{trigger.resource}: {sorted(extra)} granted without being declared"


def test_every_function_and_state_machine_is_a_trigger() -> None:
    kinds = ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")
    in_template = {name for name, r in rendered(True).items() if r["Type"] in kinds}
    assert in_template == {t.resource for t in triggers()}, "register the resource on its policy's triggers"


def test_a_removed_grant_is_caught() -> None:
    resources = json.loads(json.dumps(rendered(True)))
    [trigger] = [t for t in triggers() if t.resource == "StorageObjectFunction"]
    for policy in resources["StorageObjectFunctionRole"]["Properties"]["Policies"]:
        for statement in policy.get("PolicyDocument", {}).get("Statement", []):
            if isinstance(statement.get("Action"), list) and "s3:PutObjectTagging" in statement["Action"]:
                statement["Action"].remove("s3:PutObjectTagging")
    missing, extra = compare(resources, trigger, options_on=True)
    assert missing == {"s3:PutObjectTagging"} and not extra


def test_an_extra_grant_is_caught() -> None:
    resources = json.loads(json.dumps(rendered(True)))
    [trigger] = [t for t in triggers() if t.resource == "AuditorFunction"]
    resources["AuditorFunctionRole"]["Properties"]["Policies"].append(
        {"PolicyName": "x", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["s3:DeleteObject"],
                                                              "Resource": "*"}]}})
    assert compare(resources, trigger, options_on=True) == (set(), {"s3:DeleteObject"})


# ---------------------------------------------------------------- the member account's role
def member_role_actions() -> frozenset[str]:
    member = load_template(ROOT / "org" / "member-account.yaml")["Resources"]
    actions: set[str] = set()
    for policy in member["ExecutionRole"]["Properties"]["Policies"]:
        actions |= statement_actions(policy["PolicyDocument"], condition(True))
    return frozenset(actions)


def test_member_role_grants_exactly_what_member_side_code_declares() -> None:
    wanted = frozenset().union(*(t.actions(member_side=True) for t in triggers() if t.member))
    granted = member_role_actions()
    assert not wanted - granted, f"the member role lacks {sorted(wanted - granted)}"
    assert not granted - wanted, f"the member role grants {sorted(granted - wanted)}, which no member-side code declares"


def test_member_role_trusts_exactly_the_member_triggers_roles() -> None:
    member = load_template(ROOT / "org" / "member-account.yaml")["Resources"]
    [statement] = member["ExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    patterns = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
    trusted = {p["Fn::Sub"].rsplit("/", 1)[1] for p in patterns}
    assert trusted == {f"${{CentralStackName}}-{t.resource}Role-*" for t in triggers() if t.member}


# ---------------------------------------------------------------- the code's side of the contract
_CONSTRUCTORS = {
    # build a client for a Powertools provider or persistence layer; the calls they make are
    # declared by their callers (slack_webhook_url, run_once)
    ("notify.py", "_secrets"), ("state.py", "persistence_layer"),
    # the client factory itself (STS AssumeRole is MemberAccessPolicy, GetCallerIdentity needs no grant)
    ("aws.py", "_client"), ("aws.py", "client"), ("aws.py", "account_id"),
}


def _decorated_with_calls(node: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "calls" for d in node.decorator_list)


def _calls_client(node: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Call) and (getattr(n.func, "id", None) == "client"
                                            or getattr(n.func, "attr", None) == "client")
               for n in ast.walk(node))


def test_every_function_that_calls_aws_declares_its_actions() -> None:
    undeclared = []
    for path in sorted((LAYER / "greenrail").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and _calls_client(node) and not _decorated_with_calls(node):
                if (path.name, node.name) not in _CONSTRUCTORS:
                    undeclared.append(f"{path.relative_to(LAYER)}:{node.name}")
    assert undeclared == [], "decorate with @calls(...) the functions that call AWS"


def test_handlers_make_no_aws_calls_of_their_own() -> None:
    for path in sorted((ROOT / "functions").glob("*/app.py")):
        text = path.read_text()
        assert "boto3" not in text and "client(" not in text, f"{path}: AWS calls belong in an adapter"


def test_the_emulator_refuses_a_call_the_role_does_not_grant() -> None:
    from greenrail.adapters import s3

    with guarded(guard_for("SomeFunction", frozenset({"s3:GetObject"}))), \
            pytest.raises(UndeclaredPermission, match=r"s3:GetObjectTagging"):
        s3.object_tags("bucket", "key")  # refused before any request is made


def test_the_retraining_schedules_role_starts_pipelines_and_nothing_else() -> None:
    from greenrail.adapters.pipelines import SCHEDULE_ROLE_ACTIONS

    resources = rendered(True)
    granted = role_actions(resources, "RetrainingSchedulerRole", condition(True))
    assert granted == SCHEDULE_ROLE_ACTIONS
    [statement] = resources["RetrainingSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
