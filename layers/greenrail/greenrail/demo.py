"""``greenrail demo``: the whole application on the embedded emulator, on a small ML estate.

Deploys template.yaml into moto, seeds buckets, objects and training jobs, lets real-shaped
events flow through the template's rules to the handlers and workflows, and reports every
decision, action, notification and finding. Each policy's scenario is a function below.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from greenrail.aws import client
from greenrail.emulator import Emulator
from greenrail.emulator.slack import FakeSlackWebhook

DEMO_POLICY = """\
version: 1
storage:
  mode: enforce
training:
  mode: enforce
  check_interval_minutes: 15
  runaway:
    default_budget_usd: 500
carbon:
  mode: enforce
"""

GOVERNED = "acme-ml-datasets"
UNGOVERNED = "acme-scratch"
MIB = 1024 * 1024


def _put(bucket: str, key: str, size: int, tagging: str | None = None) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": b"\0" * size}
    if tagging:
        kwargs["Tagging"] = tagging
    client("s3").put_object(**kwargs)


def storage_scenario(emulator: Emulator, log: list[str]) -> dict[str, Any]:
    """A governed bucket, an ungoverned one, a duplicate event and the daily backfill sweep."""
    s3 = client("s3")
    s3.create_bucket(Bucket=GOVERNED)
    s3.put_bucket_tagging(Bucket=GOVERNED, Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
    s3.put_bucket_lifecycle_configuration(Bucket=GOVERNED, LifecycleConfiguration={"Rules": [
        {"ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]})
    _put(GOVERNED, "legacy/train/images-000.tar", 4 * MIB)  # before notifications: the sweep finds it
    s3.put_bucket_notification_configuration(Bucket=GOVERNED,
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
    log.append(f"s3: bucket {GOVERNED} (greenrail:storage=managed, own rule expire-tmp, 1 object from before)")
    uploads = [
        ("datasets/churn/train/part-0000.parquet", 3 * MIB, None),
        ("datasets/churn/test/part-0000.parquet", 1 * MIB, None),
        ("raw/clickstream/2026-11-26.json.gz", 6 * MIB, None),
        ("datasets/churn/train/_SUCCESS", 0, None),
        ("datasets/churn/validation/labels.csv", 2 * MIB, "greenrail:exempt=true"),
    ]
    for key, size, tagging in uploads:
        _put(GOVERNED, key, size, tagging)
        log.append(f"s3: PutObject s3://{GOVERNED}/{key} ({size} bytes{', exempt' if tagging else ''})"
                   " -> Object Created -> StorageObjectFunction")
        emulator.drain()
    s3.create_bucket(Bucket=UNGOVERNED)
    s3.put_bucket_notification_configuration(Bucket=UNGOVERNED,
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
    _put(UNGOVERNED, "train/scratch.bin", 2 * MIB)
    emulator.drain()
    log.append(f"s3: PutObject s3://{UNGOVERNED}/train/scratch.bin (bucket not governed: ignored)")
    # The same Object Created event delivered three more times: no second tag write, notification or finding.
    first = next(event for bus, event in emulator.events
                 if bus == "default" and event.get("source") == "aws.s3"
                 and event["detail"]["object"]["key"] == uploads[0][0])
    for _ in range(3):
        emulator.deliver(first)
    log.append(f"eventbridge: the Object Created event for {uploads[0][0]} delivered 3 more times")
    emulator.run_schedule("StorageSweepStateMachineDaily")
    log.append("scheduler: daily StorageSweepStateMachine run (plan accounts, Distributed Map, backfill)")
    tags = {}
    for item in s3.list_objects_v2(Bucket=GOVERNED).get("Contents", []):
        tag_set = s3.get_object_tagging(Bucket=GOVERNED, Key=item["Key"])["TagSet"]
        tags[item["Key"]] = {t["Key"]: t["Value"] for t in tag_set}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=GOVERNED)["Rules"]
    return {"object_tags": tags, "lifecycle_rules": rules}


SCENARIOS: list[tuple[str, Callable[[Emulator, list[str]], dict[str, Any]]]] = [
    ("storage", storage_scenario),
]


def _optional_scenarios() -> list[tuple[str, Callable[[Emulator, list[str]], dict[str, Any]]]]:
    """Scenarios of policies that live in their own modules (training, carbon)."""
    found: list[tuple[str, Any]] = []
    try:
        from greenrail.demo_training import training_scenario
    except ImportError:
        pass
    else:
        found.append(("training", training_scenario))
    return found


def run_demo() -> dict[str, Any]:
    """Run every scenario and collect what happened."""
    log: list[str] = []
    with FakeSlackWebhook() as slack:
        def prepare(emulator: Emulator) -> None:
            arn = client("secretsmanager").create_secret(
                Name="greenrail/slack-webhook", SecretString=json.dumps({"webhook_url": slack.url}))["ARN"]
            emulator.parameters["SlackWebhookSecretArn"] = arn

        with Emulator(DEMO_POLICY, prepare=prepare) as emulator:
            emulator.runtime.override_environment = {"POWERTOOLS_LOG_LEVEL": "CRITICAL",
                                                     "POWERTOOLS_METRICS_DISABLED": "true"}
            log.append(f"deployed template.yaml: {len(emulator.stack.physical) if emulator.stack else 0} resources, "
                       f"{len(emulator.runtime.functions)} functions")
            state: dict[str, Any] = {}
            for name, scenario in SCENARIOS + _optional_scenarios():
                state[name] = scenario(emulator, log)
            decisions = emulator.decisions
            findings = emulator.findings
            notifications = emulator.notifications
            dead = emulator.dead_letters
        slack_messages = list(slack.messages)
    return {
        "log": log,
        "decisions": [d.model_dump(mode="json") for d in decisions],
        "actions": [d.scan_line() for d in decisions if d.applied],
        "notifications": [{"subject": n["subject"], "message": json.loads(n["message"])} for n in notifications],
        "slack": slack_messages,
        "findings": [_finding_summary(f) for f in findings],
        "state": state,
        "dead_letters": [{"function": f, "error": e.strip().splitlines()[-1] if e else ""} for f, _, e in dead],
        "totals": {
            "decisions": len(decisions),
            "actions_applied": sum(1 for d in decisions if d.applied),
            "usd_per_month": round(sum(d.savings.usd_per_month for d in decisions), 4),
            "kgco2e_per_month": round(sum(d.savings.kgco2e_per_month for d in decisions), 6),
            "notifications": len(notifications),
            "slack_messages": len(slack_messages),
            "findings": len(findings),
        },
    }


def _finding_summary(finding: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": finding["Id"],
        "title": finding["Title"],
        "compliance": finding.get("Compliance", {}).get("Status"),
        "record_state": finding.get("RecordState"),
        "severity": finding.get("Severity", {}).get("Label"),
        "resource": finding["Resources"][0]["Id"],
    }


def render(report: dict[str, Any]) -> str:
    lines = ["Greenrail demo: template.yaml deployed into the embedded emulator (moto), no AWS account used.", ""]
    lines.append("What happened")
    lines += [f"  - {entry}" for entry in report["log"]]
    lines += ["", f"Decisions ({len(report['decisions'])})"]
    for d in report["decisions"]:
        status = "applied" if d["applied"] else ("not applied" if d["action"] != "none" else "")
        lines.append(f"  [{d['mode']}] {d['policy']}: {d['action']} {_short(d['resource'])} {status}".rstrip())
        lines.append(f"      {d['reason']}")
        lines.append(f"      savings ${d['savings']['usd_per_month']:.4f}/month, "
                     f"{d['savings']['kgco2e_per_month']:.6f} kgCO2e/month")
    lines += ["", f"Actions applied ({len(report['actions'])})"]
    for a in report["actions"]:
        lines.append(f"  {a['policy']}: {a['action']} {_short(a['resource'])} -> {json.dumps(a['target'])}")
    for name, state in report["state"].items():
        if name == "storage":
            lines += ["", f"Bucket {GOVERNED} afterwards"]
            for key, tags in state["object_tags"].items():
                lines.append(f"  {key}: {tags or '{}'}")
            lines.append("  lifecycle rules: " + ", ".join(
                f"{r['ID']}" + (f" ({r['Transitions'][0]['StorageClass']} after {r['Transitions'][0]['Days']} days,"
                                f" tag filter)" if r.get("Transitions") else " (the bucket's own, kept)")
                for r in state["lifecycle_rules"]))
        elif isinstance(state, dict) and state.get("lines"):
            lines += ["", f"{name.capitalize()} afterwards"] + [f"  {line}" for line in state["lines"]]
    lines += ["", f"Notifications: {len(report['notifications'])} SNS messages (Amazon Q Developer chat format), "
                  f"{len(report['slack'])} Slack messages (Block Kit, to a webhook on 127.0.0.1)"]
    for n in report["notifications"]:
        lines.append(f"  SNS: {n['subject']}")
    lines += ["", f"Security Hub findings ({len(report['findings'])})"]
    for f in report["findings"]:
        lines.append(f"  {f['compliance'] or '-':<13} {f['record_state']:<8} {f['severity']:<13} {f['title']}")
    if report["dead_letters"]:
        lines += ["", "Dead-letter queue"] + [f"  {d['function']}: {d['error']}" for d in report["dead_letters"]]
    t = report["totals"]
    lines += ["", f"Totals: {t['decisions']} decisions, {t['actions_applied']} applied, "
                  f"${t['usd_per_month']:.4f}/month and {t['kgco2e_per_month']:.6f} kgCO2e/month saved or avoided, "
                  f"{t['notifications']} notifications, {t['slack_messages']} Slack messages, {t['findings']} findings"]
    return "\n".join(lines)


def _short(resource: str) -> str:
    if resource.startswith("arn:aws:s3:::"):
        return "s3://" + resource[len("arn:aws:s3:::"):]
    return resource
