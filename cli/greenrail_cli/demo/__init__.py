"""``greenrail demo``: the whole application on the embedded emulator, on a small ML estate.

Deploys template.yaml into moto, seeds buckets, objects and training jobs, lets real-shaped
events flow through the template's rules to the handlers and workflows, and reports every
decision, action, notification and finding. Each policy's scenario is ``scenario`` in ``greenrail_cli.demo.<policy>``, found through the registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from greenrail.aws import client
from greenrail_cli.emulator import Emulator
from greenrail_cli.emulator.slack import FakeSlackWebhook

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


def _scenario_modules() -> list[tuple[str, Any]]:
    """``greenrail_cli.demo.<policy>`` for each registered policy that has a demo scenario."""
    import importlib
    import importlib.util

    from greenrail.registry import names

    return [(name, importlib.import_module(f"{__name__}.{name}")) for name in names()
            if importlib.util.find_spec(f"{__name__}.{name}") is not None]


# A scenario module may add its policy's section to the demo's document (``POLICY``).
DEMO_POLICY += "".join(getattr(module, "POLICY", "") for _, module in _scenario_modules())


def scenarios() -> list[tuple[str, Callable[[Emulator, list[str]], dict[str, Any]]]]:
    """One scenario per registered policy that has one: ``greenrail_cli.demo.<policy>.scenario``.
    (The carbon policy has none of its own: it records the training scenario's finished jobs.)"""
    found = [(name, module.scenario) for name, module in _scenario_modules()]
    # the storage scenario first, as before: its objects are the smallest story to read
    return sorted(found, key=lambda item: item[0] != "storage")


def run_demo() -> dict[str, Any]:
    """Run every scenario and collect what happened."""
    log: list[str] = []
    with FakeSlackWebhook() as slack:
        def prepare(emulator: Emulator) -> None:
            arn = client("secretsmanager").create_secret(
                Name="greenrail/slack-webhook", SecretString=json.dumps({"webhook_url": slack.url}))["ARN"]
            emulator.parameters["SlackWebhookSecretArn"] = arn
            emulator.parameters["GovernedBucketPattern"] = "acme-ml-*"  # the demo's governed bucket

        with Emulator(DEMO_POLICY, prepare=prepare) as emulator:
            emulator.runtime.override_environment = {"POWERTOOLS_LOG_LEVEL": "CRITICAL",
                                                     "POWERTOOLS_METRICS_DISABLED": "true",
                                                     # the fake webhook on 127.0.0.1 (greenrail.notify)
                                                     "GREENRAIL_SLACK_ALLOWED_HOSTS": slack.url.split("/")[2]}
            log.append(f"deployed template.yaml: {len(emulator.stack.physical) if emulator.stack else 0} resources, "
                       f"{len(emulator.runtime.functions)} functions")
            state: dict[str, Any] = {}
            for name, scenario in scenarios():
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
            from greenrail_cli.demo.storage import GOVERNED

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
