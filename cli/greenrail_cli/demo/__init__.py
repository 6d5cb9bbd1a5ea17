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
  sweep: {manifest_bucket: acme-greenrail-manifests, batch_operations_role_arn: "arn:aws:iam::123456789012:role/acme-batch-operations"}
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
    (The carbon policy's own shows a pre-flight estimate; it also records the training scenario's
    finished jobs.)"""
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
            # the storage demo's inventory sweep: manifests, results and Batch Operations jobs
            emulator.parameters["ManifestBucket"] = "acme-greenrail-manifests"
            emulator.parameters["BatchOperationsRoleArn"] = "arn:aws:iam::123456789012:role/acme-batch-operations"

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
            held = sum(1 for i in emulator.runtime.invocations
                       if i.ok and isinstance(i.result, dict) and i.result.get("status") == "held")
            # Dry-run decisions wait for the daily digest, enforce ones for their 15-minute window
            # (greenrail.digest): send them all now instead of waiting for the schedule.
            flushed = emulator.flush_digests()
            log.append(f"digests: the notifier held {held} decisions; the digest function sent "
                       f"{len(flushed['sent'])} digests, one per policy and bucket or account ("
                       + ", ".join(f"{d['policy']} {d['scope']}: {d['decisions']}" for d in flushed["sent"]) + ")")
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
            **money_totals(decisions),
        },
    }


def money_totals(decisions: list[Any]) -> dict[str, float]:
    """The demo's savings as the report counts them: recurring (saved, per month), one-off
    (avoided), not applied; and the training jobs' emissions."""
    from greenrail_cli.report import from_decisions

    totals = from_decisions(decisions, "greenrail demo")["totals"]
    names = ("saved_usd_per_month", "avoided_usd", "pending_usd", "saved_kgco2e_per_month", "avoided_kgco2e",
             "emitted_kgco2e")
    return {name: totals[name] for name in names}


def policy_modes(text: str = "") -> list[tuple[str, str, str]]:
    """(policy, the mode it runs in, why) for each registered policy, from the demo's policy document."""
    from greenrail.document import parse_policy

    document = parse_policy(text or DEMO_POLICY, "the demo's policy document")
    with_scenario = {name for name, _ in _scenario_modules()}
    modes = []
    for name in document.model_fields:
        section = getattr(document, name)
        mode = getattr(section, "mode", None)
        if mode is None:  # version, notifications
            continue
        if name not in document.model_fields_set:
            why = f"the policy's default: the demo's policy document has no {name} section"
        elif "mode" in section.model_fields_set:
            why = "the demo's policy document sets it"
        else:
            why = f"the policy's default: the demo's policy document does not set {name}.mode"
        if name not in with_scenario:
            why += "; no demo scenario"
        modes.append((name, getattr(mode, "value", str(mode)), why))
    return modes


def exemptions(decisions: list[Any], state: dict[str, Any] | None = None, text: str = "") -> list[str]:
    """Lines saying which resources were exempt, why, from which policies, and what they therefore
    lack (an exempt training job is not stopped and has no carbon record). From the decisions that
    say so, and from the seeded resources (``state``) the document's exemptions cover: an exempt
    job gets no decision the demo sees, so its tags are checked against the same rules."""
    import re

    from greenrail.document import parse_policy

    document = parse_policy(text or DEMO_POLICY, "the demo's policy document")

    def rules(policy: str) -> Any:
        return getattr(getattr(document, policy, None), "exemptions", None)

    def about(name: str) -> list[Any]:
        return [d for d in decisions if d.resource == name or d.resource.endswith("/" + name)]

    def line(label: str, name: str, causes: list[str], policies: list[str], every: str, training_job: bool) -> str:
        related = about(name)
        outcome = []
        if training_job:
            stopped = any(d.applied and d.action.startswith("stop") for d in related)
            outcome.append("stopped" if stopped else "not stopped")
            recorded = any(d.action == "publish-carbon-record" for d in related)
            outcome.append("a carbon record" if recorded else "no carbon record")
        elif not any(d.applied for d in related):
            outcome.append("left as it is")
        return (f"  {label}: {' and '.join(dict.fromkeys(causes)) or 'exempt'}, so exempt from {every} "
                f"({', '.join(policies)}): {', '.join(outcome)}")

    lines: list[str] = []
    said: set[str] = set()
    exempt: dict[str, list[Any]] = {}  # what the decisions say (a scan with --all keeps them)
    for d in decisions:
        if d.action == "none" and (d.figures.get("exempt") is True or re.search(r"(?<!not )\bexempt\b", d.reason)):
            exempt.setdefault(d.resource, []).append(d)
    for resource, found in exempt.items():
        name = resource.rsplit("/", 1)[-1]
        policies = list(dict.fromkeys(d.policy for d in found))
        causes = []
        for policy in policies:
            if rules(policy) is not None:  # the decisions do not carry the tags: no pattern matched, so the tag
                pattern = next((p for p in rules(policy).name_patterns if re.search(p, name)), None)
                causes.append(f"its name matches {pattern!r}" if pattern else
                              f"tagged {rules(policy).tag_key}={rules(policy).tag_value}")
        every = set(policies) == {d.policy for d in decisions if d.resource == resource}
        training_job = ":training-job/" in resource
        lines.append(line(f"training job {name}" if training_job else _short(resource), name, causes, policies,
                          "every policy that looked at it" if every else "these policies", training_job))
        lines += [f"      {d.policy}: {d.reason}" for d in found]
        said.add(name)
    lines += _seeded_exemptions(decisions, state or {}, rules, said, line)
    return lines


def _seeded_exemptions(decisions: list[Any], state: dict[str, Any], rules: Callable[[str], Any], said: set[str],
                       line: Callable[..., str]) -> list[str]:
    """The demo's seeded training jobs and objects that the document's exemptions cover."""
    from greenrail.registry import names

    seeded: list[tuple[str, str, dict[str, str], str]] = []  # (label, name, tags, what the policies decide about)
    if "training" in state:
        from greenrail_cli.demo.training import JOBS

        seeded += [(f"training job {job.name}", job.name, job.tags, ":training-job/") for job in JOBS
                   if job.name in state["training"].get("jobs", {})]
    if "storage" in state:
        from greenrail_cli.demo.storage import GOVERNED

        seeded += [(f"s3://{GOVERNED}/{key}", key, tags or {}, "arn:aws:s3:::")
                   for key, tags in state["storage"].get("object_tags", {}).items()]
    lines = []
    for label, name, tags, kind in seeded:
        if name in said:
            continue
        # the policies that decided about resources of this kind in the run, in the registry's order
        policies = [p for p in names() if any(d.policy == p and kind in d.resource for d in decisions)]
        exempt_from = [p for p in policies if rules(p) is not None and rules(p).exempts(name, tags)]
        if not exempt_from:
            continue
        causes = []
        for policy in exempt_from:
            exemption = rules(policy)
            matched = tags.get(exemption.tag_key, "").lower() == exemption.tag_value.lower()
            causes.append(f"tagged {exemption.tag_key}={tags[exemption.tag_key]}" if matched else
                          "its name matches " + ", ".join(repr(p) for p in exemption.name_patterns))
        what = "training jobs" if kind == ":training-job/" else "objects"
        every = f"every policy that decides about {what}" if exempt_from == policies else "these policies"
        lines.append(line(label, name, causes, exempt_from, every, kind == ":training-job/"))
    return lines


def write_report(report: dict[str, Any], directory: str) -> None:
    """Write the demo's decisions (JSON lines) and its HTML report into ``directory``; their paths
    go into ``report["files"]``."""
    from pathlib import Path

    from greenrail.decision import Decision
    from greenrail_cli.report import write_outputs

    decisions = [Decision.model_validate(d) for d in report["decisions"]]
    log, page = write_outputs(decisions, directory, "greenrail demo (the embedded emulator)")
    report["files"] = {"decisions": str(Path(log).resolve()), "report": str(Path(page).resolve())}


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
    from greenrail.decision import Decision
    from greenrail_cli.output import amount, usd

    lines = ["Greenrail demo: template.yaml deployed into the embedded emulator (moto), no AWS account used.", ""]
    lines.append("Policies (the mode each ran in, and why)")
    lines += [f"  {name}: {mode} ({why})" for name, mode, why in policy_modes()]
    lines += ["", "What happened"]
    lines += [f"  - {entry}" for entry in report["log"]]
    decisions = [Decision.model_validate(d) for d in report["decisions"]]
    lines += ["", f"Decisions ({len(decisions)})"] + _decision_lines(decisions)
    exempt = exemptions(decisions, report["state"])
    if exempt:
        lines += ["", "Exempt (why, and what they therefore lack)"] + exempt
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
    lines += ["", f"Totals: {t['decisions']} decisions, {t['actions_applied']} applied; "
                  f"{usd(t['saved_usd_per_month'])}/month saved (recurring, {amount(t['saved_kgco2e_per_month'])} "
                  f"kgCO2e/month), {usd(t['avoided_usd'])} avoided (one-off, {amount(t['avoided_kgco2e'])} kgCO2e), "
                  f"{usd(t['pending_usd'])} not applied (dry-run, recommended, held back); "
                  f"{amount(t['emitted_kgco2e'])} kgCO2e emitted by training jobs; "
                  f"{t['notifications']} notifications, {t['slack_messages']} Slack messages, {t['findings']} findings"]
    if report.get("files"):
        lines += ["", f"Report: {report['files']['report']}", f"Decisions (JSON lines): {report['files']['decisions']}"]
    return "\n".join(lines)


def _decision_lines(decisions: list[Any]) -> list[str]:
    """Each decision: what, why, and its savings with their unit (a carbon record: its kWh and kgCO2e)."""
    from greenrail_cli.output import amount, carbon, one_off, usd

    lines = []
    for d in decisions:
        status = "applied" if d.applied else ("not applied" if d.action != "none" else "")
        lines.append(f"  [{d.mode.value}] {d.policy}: {d.action} {_short(d.resource)} {status}".rstrip())
        lines.append(f"      {d.reason}")
        if d.action in ("publish-carbon-record", "estimate-carbon"):  # what the job emits, not savings
            lines.append(f"      carbon {carbon(d)}")
            continue
        per = " one-off" if one_off(d) else "/month"
        lines.append(f"      savings {usd(d.savings.usd_per_month)}{per}, {amount(d.savings.kgco2e_per_month)} kgCO2e{per}")
    return lines


def _short(resource: str) -> str:
    if resource.startswith("arn:aws:s3:::"):
        return "s3://" + resource[len("arn:aws:s3:::"):]
    return resource
