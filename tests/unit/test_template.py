"""template.yaml: rule patterns against sample events, least privilege, handlers, state machines."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from greenrail.registry import DELIVERY_RULES, triggers
from greenrail_cli.emulator.deploy import load_template, sam_transform
from tests.conftest import ROOT

EVENTS = ROOT / "events"

# Each rule of the template, from the registry: the sample events it must match and the
# near-misses it must not (``greenrail.protocol.Rule``, declared next to each policy).
RULES: dict[str, tuple[list[str], list[str]]] = {
    f"{trigger.resource}{rule.name}": (list(rule.matches), list(rule.near_misses))
    for trigger in triggers()
    for rule in trigger.rules
} | {name: (list(rule.matches), list(rule.near_misses)) for name, rule in DELIVERY_RULES.items()}

# Actions IAM cannot scope to a resource (Service Authorization Reference: no resource types).
UNSCOPABLE = {"s3:ListAllMyBuckets", "s3:CreateJob", "cloudwatch:GetMetricData", "sagemaker:Search",
              "cloudwatch:ListMetrics", "sagemaker:ListMonitoringExecutions", "scheduler:ListSchedules",
              "organizations:ListAccounts",
              # List and Describe calls IAM cannot scope to a resource (the endpoints policy's)
              "sagemaker:ListEndpoints", "sagemaker:ListInferenceRecommendationsJobs",
              "application-autoscaling:DescribeScalableTargets",
              # the notebooks policy's List calls (no resource types)
              "sagemaker:ListDomains", "sagemaker:ListUserProfiles", "sagemaker:ListSpaces", "sagemaker:ListApps",
              "sagemaker:ListNotebookInstances",
              # a task token is the scope of a callback: no resource type in IAM
              "states:SendTaskSuccess",
              "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@lru_cache(maxsize=1)
def transformed() -> dict[str, Any]:
    raw = load_template(ROOT / "template.yaml")
    params = {name: str(spec.get("Default", "")) for name, spec in raw.get("Parameters", {}).items()}
    cfn, _ = sam_transform(raw, ROOT, params)
    return cfn


def resources(kind: str) -> dict[str, Any]:
    return {k: v for k, v in transformed()["Resources"].items() if v["Type"] == kind}


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def test_every_rule_has_samples_and_near_misses() -> None:
    rules = {k for k, v in resources("AWS::Events::Rule").items() if "EventPattern" in v["Properties"]}
    assert rules == set(RULES), "declare the new rule's samples and near-misses on its policy's Trigger"


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_matches_its_samples_and_rejects_near_misses(rule: str) -> None:
    if rule not in resources("AWS::Events::Rule"):
        pytest.fail(f"{rule} is not in template.yaml")
    pattern = EventPattern.load(json.dumps(resources("AWS::Events::Rule")[rule]["Properties"]["EventPattern"]))
    matches, misses = RULES[rule]
    for name in matches:
        assert pattern.matches_event(event(name)), f"{rule} should match {name}"
    for name in misses:
        assert not pattern.matches_event(event(name)), f"{rule} should not match {name}"


def test_every_sample_event_is_used() -> None:
    used = {name for matches, misses in RULES.values() for name in matches + misses}
    on_disk = {str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json")}
    assert on_disk - used == set(), "sample events no rule test uses"


def _statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, managed in resources("AWS::IAM::ManagedPolicy").items():
        for statement in managed["Properties"]["PolicyDocument"]["Statement"]:
            found.append((name, statement))
    for name, role in resources("AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            if "Fn::If" in policy:  # a conditional policy: check the branch that grants something
                policy = policy["Fn::If"][1]
            document = policy["PolicyDocument"]
            for statement in document.get("Statement", []):
                found.append((name, statement))
    return found


def test_every_statement_names_its_actions() -> None:
    for role, statement in _statements():
        assert "NotAction" not in statement, role
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert "*" not in action, f"{role}: wildcard action {action}"


def test_star_resources_only_for_actions_iam_cannot_scope() -> None:
    for role, statement in _statements():
        resource = statement.get("Resource")
        resource_list = resource if isinstance(resource, list) else [resource]
        if "*" in resource_list:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert set(actions) <= UNSCOPABLE, f"{role}: {actions} on '*'"


def test_batch_operations_jobs_are_limited_to_tagging() -> None:
    """s3:CreateJob has no resource type; its operation is scoped by condition (s3:RequestJobOperation):
    tagging jobs and the merge jobs' LambdaInvoke (never copy, delete, restore...), here and in
    the member role."""
    found = [(role, statement) for role, statement in _statements() if "s3:CreateJob" in statement["Action"]]
    assert found
    for role, statement in found:
        condition = statement.get("Condition", {}).get("StringEquals", {})
        assert condition.get("s3:RequestJobOperation") == ["S3PutObjectTagging", "LambdaInvoke"], role
    member = load_template(ROOT / "org" / "member-account.yaml")["Resources"]["ExecutionRole"]["Properties"]
    [statement] = [s for policy in member["Policies"] for s in policy["PolicyDocument"]["Statement"]
                   if "s3:CreateJob" in s["Action"]]
    assert statement["Condition"]["StringEquals"]["s3:RequestJobOperation"] == ["S3PutObjectTagging", "LambdaInvoke"]


def test_no_managed_policies_beyond_logging() -> None:
    for name, role in resources("AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            allowed = ("AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "MemberAccessPolicy",
                       "ReadPolicyDocumentPolicy", "PublishDecisionsPolicy")
            assert any(a in text for a in allowed), f"{name}: {text}"


def test_every_function_has_its_handler() -> None:
    raw = load_template(ROOT / "template.yaml")
    functions = {k: v for k, v in raw["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions
    for name, function in functions.items():
        props = function["Properties"]
        module, _, attribute = props["Handler"].rpartition(".")
        source = ROOT / props["CodeUri"] / f"{module}.py"
        assert source.exists(), f"{name}: {source} missing"
        assert f"def {attribute}(" in source.read_text(), f"{name}: no {attribute}() in {source}"
        assert "DeadLetterQueue" in json.dumps(raw["Globals"]["Function"]), "async failures need a DLQ"


def test_no_secret_in_the_template() -> None:
    text = (ROOT / "template.yaml").read_text()
    assert "hooks.slack.com" not in text
    assert load_template(ROOT / "template.yaml")["Parameters"]["SlackWebhookSecretArn"]["Default"] == ""


@pytest.mark.parametrize("path", sorted((ROOT / "statemachines").glob("*.asl.json")), ids=lambda p: p.name)
def test_state_machines_pass_statelint(path: Path) -> None:
    # scripts/statelint.py: statelint, less its one known gap (ItemReader.ReaderConfig.InputType)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "statelint.py"), str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_dead_letter_queue_accepts_every_rule() -> None:
    """EventBridge can only dead-letter to a queue whose policy lets the rule send to it."""
    [policy] = resources("AWS::SQS::QueuePolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    allowed = {ref["Fn::GetAtt"][0] for ref in statement["Condition"]["ArnEquals"]["aws:SourceArn"]}
    with_dlq = {name for name, rule in resources("AWS::Events::Rule").items()
                if any("DeadLetterConfig" in t for t in rule["Properties"].get("Targets", []))}
    assert with_dlq and with_dlq <= allowed


def test_key_policy_names_its_actions() -> None:
    for name, key in resources("AWS::KMS::Key").items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), f"{name}: {actions}"


@pytest.mark.parametrize("path", ["template.yaml", "org/member-account.yaml"])
def test_bucket_writes_are_scoped_to_a_deliberately_chosen_pattern(path: str) -> None:
    """A lifecycle rule can expire objects: no role may write every bucket by default."""
    raw = load_template(ROOT / path)
    default = raw["Parameters"]["GovernedBucketPattern"]["Default"]
    assert default.strip("*") and default != "*", "the default pattern must be narrower than '*'"
    text = json.dumps(raw["Resources"])
    for action in ("s3:PutObjectTagging", "s3:PutLifecycleConfiguration"):
        assert action in text
    checked = 0
    for name, resource in raw["Resources"].items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::Serverless::Function"):
            continue
        for policy in resource["Properties"].get("Policies", []):
            if isinstance(policy, dict) and "Fn::If" in policy:
                policy = policy["Fn::If"][1]
            document = policy.get("PolicyDocument", policy) if isinstance(policy, dict) else {}
            for statement in document.get("Statement", []):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if {"s3:PutObjectTagging", "s3:PutLifecycleConfiguration"} & set(actions):
                    checked += 1
                    assert "${GovernedBucketPattern}" in json.dumps(statement["Resource"]), f"{path} {name}"
    assert checked


def test_only_greenrail_publishers_may_put_events_on_the_decision_bus() -> None:
    """Any principal of the account with events:PutEvents could forge a decision: the bus's policy
    denies everyone but the roles of the functions whose code publishes decisions."""
    from greenrail import bus

    publishers = {t.resource for t in triggers() if t.uses and bus.publish in t.uses()}
    assert publishers  # derived from the code, like every role
    [policy] = [p for p in resources("AWS::Events::EventBusPolicy").values()
                if p["Properties"]["EventBusName"] == {"Ref": "DecisionBus"}]
    statement = policy["Properties"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "events:PutEvents")
    assert statement["Resource"] == {"Fn::GetAtt": ["DecisionBus", "Arn"]}
    # a role of the Organization deployments only: !If [HasOrganization, !GetAtt <Role>.Arn, !Ref AWS::NoValue]
    allowed = {(ref["Fn::If"][1] if "Fn::If" in ref else ref)["Fn::GetAtt"][0]
               for ref in statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]}
    functions = transformed()["Resources"]
    assert allowed == {functions[name]["Properties"]["Role"]["Fn::GetAtt"][0] for name in publishers}


def test_every_function_logs_to_a_group_with_a_retention() -> None:
    groups = resources("AWS::Logs::LogGroup")
    parameter = load_template(ROOT / "template.yaml")["Parameters"]["LogRetentionDays"]
    assert parameter["Default"] == 90 and 90 in parameter["AllowedValues"]
    functions = resources("AWS::Lambda::Function")
    assert functions
    for name, function in functions.items():
        group = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert isinstance(group, dict) and group.get("Ref") in groups, f"{name} logs to no group of the template"
        retention = groups[group["Ref"]]["Properties"].get("RetentionInDays")
        assert retention == {"Ref": "LogRetentionDays"}, f"{name}: its log group keeps logs forever"
