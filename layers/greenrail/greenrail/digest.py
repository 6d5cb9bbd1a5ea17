"""Digests: decisions grouped into one notification per policy and scope, instead of one each.

A first dry-run sweep of a big bucket decides about every object; one Slack message per decision
would flood the channel. The notifier holds each decision in the digest table
(``GREENRAIL_DIGEST_TABLE``) under its *window* and *group*; the digest function (every five
minutes) sends each group's digest once its window is due: totals (decisions; actions applied,
held back by the blast radius, failed, not applied; USD and kgCO2e per month) and the
resources with the biggest savings. Security Hub findings stay one per resource (the auditor
does not read this).

* **Window**: enforce-mode decisions are grouped for ``window_minutes`` (windows aligned on the
  UTC clock); dry-run decisions go into one daily digest at ``daily_at_utc_hour`` (or the same
  window as enforce, or at once: ``dry_run``). A severity in ``immediate_severities``,
  ``window_minutes: 0`` for enforce, and every decision when no digest table is configured, is
  sent at once, as before.
* **Group**: the policy, the mode, the scope (the bucket for S3 resources, else the account),
  and the owner when the decision carries one (``Decision.owner``, from the resource's
  ``greenrail:owner`` tag) that the policy document maps in ``notifications.owners``: that
  owner's digests go to their own Slack webhook and carry the SNS attribute ``owner``.
* **The table** (partition key ``pk``, sort key ``sk``, TTL ``expiration``):
  ``m#<window>#<group>`` / ``<decision digest>``: one decision, written idempotently (a retried
  notifier writes the same item: nothing is counted twice); ``w#<window>`` / ``<group>``: the
  groups of a window; ``pending`` / ``<window>``: the windows not yet sent; ``sent#<window>`` /
  ``<group>``: a group's digest claimed (and then sent).
* **At least once**: a group is claimed before it is sent and released when sending fails
  (the next run tries again); a window leaves ``pending`` only when all its groups are sent. A
  window is sent ``GRACE_SECONDS`` after it closes, so a notifier still writing into it (its
  timeout is shorter) is not cut off.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from greenrail.aws import client, error_code
from greenrail.config import NotificationsConfig
from greenrail.decision import Decision, Mode
from greenrail.permissions import calls
from greenrail.units import usd

logger = logging.getLogger(__name__)

GRACE_SECONDS = 120  # twice the notifier's timeout
RETENTION_SECONDS = 7 * 24 * 3600  # items expire a week after their window is due
REASON_MAX = 300
S3_ARN_PREFIX = "arn:aws:s3:::"


# ---------------------------------------------------------------- where a decision goes
@dataclass(frozen=True)
class Window:
    kind: str  # "window" | "daily"
    due: int  # epoch seconds: sent from then on (plus the grace)

    @property
    def id(self) -> str:
        return f"{self.due:010d}-{self.kind}"

    @classmethod
    def parse(cls, window_id: str) -> Window:
        due, _, kind = window_id.partition("-")
        return cls(kind, int(due))


def window_for(decision: Decision, config: NotificationsConfig, now: datetime) -> Window | None:
    """The window ``decision`` waits in, or None to send it at once."""
    if decision.severity.upper() in config.immediate_severities:
        return None
    style = "window" if decision.mode is Mode.ENFORCE else config.dry_run
    if style == "each":
        return None
    if style == "daily":
        due = now.astimezone(UTC).replace(hour=config.daily_at_utc_hour, minute=0, second=0, microsecond=0)
        if due <= now:
            due += timedelta(days=1)
        return Window("daily", int(due.timestamp()))
    if config.window_minutes == 0:
        return None
    size = config.window_minutes * 60
    return Window("window", int(now.timestamp()) // size * size + size)


def scope_of(decision: Decision) -> str:
    if decision.resource.startswith(S3_ARN_PREFIX):
        return "bucket " + decision.resource[len(S3_ARN_PREFIX):].split("/", 1)[0]
    return "account " + decision.account


@dataclass(frozen=True)
class Group:
    policy: str
    mode: str
    scope: str
    owner: str | None = None

    @classmethod
    def of(cls, decision: Decision, config: NotificationsConfig) -> Group:
        owner = decision.owner if decision.owner in config.owners else None
        return cls(decision.policy, decision.mode.value, scope_of(decision), owner)

    @property
    def id(self) -> str:
        text = json.dumps([self.policy, self.mode, self.scope, self.owner])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]

    def item(self) -> dict[str, Any]:
        values = {"policy": self.policy, "mode": self.mode, "scope": self.scope}
        if self.owner:
            values["owner"] = self.owner
        return {name: {"S": value} for name, value in values.items()}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Group:
        return cls(item["policy"]["S"], item["mode"]["S"], item["scope"]["S"], item.get("owner", {}).get("S"))


def decision_digest(decision: Decision) -> str:
    return hashlib.sha256(decision.model_dump_json().encode("utf-8", "surrogatepass")).hexdigest()[:32]


# ---------------------------------------------------------------- the notifier's side
_indexed: set[tuple[str, str]] = set()  # (window, group) rows this container already wrote


@calls("dynamodb:PutItem", central=True)
def hold(decision: Decision, window: Window, config: NotificationsConfig, table: str) -> Group:
    """Keep ``decision`` for its window's digest (idempotent)."""
    ddb = client("dynamodb")
    group = Group.of(decision, config)
    expiration = {"N": str(window.due + RETENTION_SECONDS)}
    ddb.put_item(TableName=table, Item={
        "pk": {"S": f"m#{window.id}#{group.id}"}, "sk": {"S": decision_digest(decision)},
        "resource": {"S": decision.resource}, "action": {"S": decision.action},
        "applied": {"BOOL": decision.applied}, "held_back": {"BOOL": decision.held_back},
        "failed": {"BOOL": bool(decision.error) and not decision.applied},
        "usd": {"N": repr(float(decision.savings.usd_per_month))},
        "kg": {"N": repr(float(decision.savings.kgco2e_per_month))},
        "region": {"S": decision.region}, "reason": {"S": decision.reason[:REASON_MAX] or "-"},
        "expiration": expiration,
    })
    if (window.id, group.id) not in _indexed:
        ddb.put_item(TableName=table, Item={"pk": {"S": f"w#{window.id}"}, "sk": {"S": group.id},
                                            **group.item(), "expiration": expiration})
        ddb.put_item(TableName=table, Item={"pk": {"S": "pending"}, "sk": {"S": window.id},
                                            "expiration": expiration})
        _indexed.add((window.id, group.id))
    return group


def routed(decision: Decision, config: NotificationsConfig | None) -> Any:
    """``decision`` as a notification to its owner's channels when the policy maps its owner
    (their Slack webhook, the SNS attribute ``owner``), else to the default ones."""
    from dataclasses import replace

    from greenrail.notify import outgoing

    route = config.owners.get(decision.owner) if config and decision.owner else None
    if route is None:
        return decision
    message = outgoing(decision)
    attributes = dict(message.attributes)
    if route.sns_attribute:
        attributes["owner"] = {"DataType": "String", "StringValue": route.sns_attribute}
    return replace(message, attributes=attributes, slack_secret_arn=route.slack_secret_arn)


def notify_or_hold(decision: Decision, config: NotificationsConfig | None,
                   now: datetime | None = None) -> dict[str, Any]:
    """The notifier's one step: send ``decision`` now, or hold it for its digest (``config`` None:
    the policy document could not be read, send it now)."""
    from greenrail.notify import notify
    from greenrail.settings import settings

    table = settings().digest_table
    window = window_for(decision, config, now or datetime.now(UTC)) if table and config else None
    if window is None or table is None or config is None:
        return {"status": "notified", **notify(routed(decision, config))}
    group = hold(decision, window, config, table)
    return {"status": "held", "window": window.id, "scope": group.scope}


# ---------------------------------------------------------------- the digest function's side
@dataclass
class Digest:
    group: Group
    window: Window
    decisions: int = 0
    applied: int = 0
    held_back: int = 0
    failed: int = 0
    usd_per_month: float = 0.0
    kgco2e_per_month: float = 0.0
    actions: dict[str, int] = field(default_factory=dict)
    regions: set[str] = field(default_factory=set)
    top: list[dict[str, Any]] = field(default_factory=list)

    def add(self, item: dict[str, Any], keep: int) -> None:
        usd, kg = float(item["usd"]["N"]), float(item["kg"]["N"])
        self.decisions += 1
        self.applied += item["applied"]["BOOL"]
        self.held_back += item["held_back"]["BOOL"]
        self.failed += item["failed"]["BOOL"]
        self.usd_per_month += usd
        self.kgco2e_per_month += kg
        action = item["action"]["S"]
        self.actions[action] = self.actions.get(action, 0) + 1
        self.regions.add(item["region"]["S"])
        self.top.append({"resource": item["resource"]["S"], "action": action, "usd": usd, "kg": kg,
                         "applied": item["applied"]["BOOL"], "reason": item["reason"]["S"]})
        if len(self.top) > 4 * keep:  # bounded memory, whatever the group's size
            self._trim(keep)

    def _trim(self, keep: int) -> None:
        self.top.sort(key=lambda r: (-r["usd"], -r["kg"], r["resource"]))
        del self.top[keep:]

    def finish(self, keep: int) -> Digest:
        self._trim(keep)
        return self


@calls("dynamodb:Query", central=True)
def _query(table: str, pk: str, **extra: Any) -> Iterator[dict[str, Any]]:
    ddb = client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": {"S": pk}}, **extra}
    if "ExpressionAttributeValues" in extra:
        kwargs["ExpressionAttributeValues"] = {":pk": {"S": pk}, **extra["ExpressionAttributeValues"]}
    while True:
        page = ddb.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def due_windows(table: str, now: datetime | None) -> list[Window]:
    """The pending windows due at ``now`` (all of them when ``now`` is None)."""
    latest = 9_999_999_999 if now is None else int(now.timestamp()) - GRACE_SECONDS
    items = _query(table, "pending", KeyConditionExpression="pk = :pk AND sk <= :latest",
                   ExpressionAttributeValues={":latest": {"S": f"{latest:010d}~"}})
    return [Window.parse(item["sk"]["S"]) for item in items if int(item["sk"]["S"][:10]) <= latest]


def collect(table: str, window: Window, group: Group, keep: int) -> Digest:
    digest = Digest(group, window)
    for item in _query(table, f"m#{window.id}#{group.id}"):
        digest.add(item, keep)
    return digest.finish(keep)


@calls("dynamodb:PutItem", central=True)
def _claim(table: str, window: Window, group_id: str) -> bool:
    try:
        client("dynamodb").put_item(
            TableName=table, ConditionExpression="attribute_not_exists(pk)",
            Item={"pk": {"S": f"sent#{window.id}"}, "sk": {"S": group_id},
                  "expiration": {"N": str(window.due + RETENTION_SECONDS)}})
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


@calls("dynamodb:DeleteItem", central=True)
def _delete(table: str, pk: str, sk: str) -> None:
    client("dynamodb").delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})


@dataclass
class FlushResult:
    sent: list[Digest] = field(default_factory=list)
    failed: list[tuple[Group, str]] = field(default_factory=list)  # (group, why): tried again next run


def flush(config: NotificationsConfig, table: str, now: datetime | None) -> FlushResult:
    """Send the digest of every group whose window is due (``now`` None: every pending window,
    e.g. before changing the notifications settings); each group once."""
    from greenrail.notify import notify

    result = FlushResult()
    for window in due_windows(table, now):
        complete = True
        for row in _query(table, f"w#{window.id}"):
            group_id, group = row["sk"]["S"], Group.from_item(row)
            if not _claim(table, window, group_id):
                continue  # sent already (by an earlier run)
            digest = collect(table, window, group, config.top_resources)
            try:
                if digest.decisions:
                    notify(message(digest, config))
            except Exception as exc:  # transient: release the claim, try again next run
                _delete(table, f"sent#{window.id}", group_id)
                complete = False
                why = f"{type(exc).__name__}: {str(exc)[:200]}"
                logger.error("digest not sent; tried again next run",
                             extra={"policy": group.policy, "scope": group.scope, "error": why})
                result.failed.append((group, why))
            else:
                result.sent.append(digest)
        if complete:
            _delete(table, "pending", window.id)
    return result


# ---------------------------------------------------------------- the words
def _lines(digest: Digest) -> list[str]:
    d = digest
    not_applied = d.decisions - d.applied
    lines = [
        f"{d.decisions:,} decisions in {d.group.scope} ({', '.join(sorted(d.regions)) or '-'})",
        "Actions: " + ", ".join(f"{name} {count:,}" for name, count in sorted(d.actions.items())),
        f"Applied {d.applied:,} · held back by the blast radius {d.held_back:,} · failed {d.failed:,}"
        f" · not applied {not_applied:,}" + (" (dry-run)" if d.group.mode != Mode.ENFORCE.value else ""),
        f"Savings: ${usd(d.usd_per_month)}/month, {usd(d.kgco2e_per_month)} kgCO2e/month",
    ]
    return lines


def _top_lines(digest: Digest) -> list[str]:
    from greenrail.notify import _clip

    return [f"{_clip(r['resource'], 300)}: {r['action']}{' (applied)' if r['applied'] else ''}"
            f" — ${usd(r['usd'])}/month" for r in digest.top]


def message(digest: Digest, config: NotificationsConfig) -> Any:
    """The digest as one notification (greenrail.notify.Outgoing): SNS and Slack alike."""
    from greenrail.notify import CHAT_DESCRIPTION_MAX, SLACK_TEXT_MAX, SUBJECT_MAX, Outgoing, _clip, _truncate

    group, window = digest.group, digest.window
    when = datetime.fromtimestamp(window.due, UTC).isoformat()
    title = f"Greenrail digest [{group.mode}] {group.policy}: {digest.decisions:,} decisions, {group.scope}"
    summary = " · ".join(_lines(digest))
    top = _top_lines(digest)
    description = "\n".join(_lines(digest) + (["*Top resources:*"] + [f"• {line}" for line in top] if top else []))
    route = config.owners.get(group.owner) if group.owner else None
    attributes = {
        name: {"DataType": "String", "StringValue": _clip(value) or "-"}
        for name, value in {"policy": group.policy, "action": "digest", "mode": group.mode,
                            "applied": str(digest.applied > 0).lower(), "severity": "INFORMATIONAL",
                            "kind": "digest"}.items()
    }
    if route and route.sns_attribute:
        attributes["owner"] = {"DataType": "String", "StringValue": route.sns_attribute}
    chat = {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": _truncate(f":seedling: {title}", 250),
            "description": _truncate(description, CHAT_DESCRIPTION_MAX),
            "nextSteps": ["Each decision is in Security Hub and the decision log; "
                          "`greenrail report` shows them all."],
            "keywords": [group.policy, group.mode, "digest"],
        },
        "metadata": {
            "threadId": f"greenrail-digest-{group.id}",
            "summary": _truncate(summary, 3000),
            "eventType": "GreenrailDigest",
            "relatedResources": [_clip(r["resource"], 2048) for r in digest.top],
            "additionalContext": {
                "policy": group.policy, "mode": group.mode, "scope": _clip(group.scope, 300),
                "decisions": str(digest.decisions), "applied": str(digest.applied),
                "heldBack": str(digest.held_back), "failed": str(digest.failed),
                "usdPerMonth": f"{digest.usd_per_month:.4f}", "kgco2ePerMonth": f"{digest.kgco2e_per_month:.4f}",
                "window": when,
            },
        },
    }
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _truncate("\n".join(_lines(digest)), SLACK_TEXT_MAX)}},
    ]
    if top:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _truncate(
            "*Top resources*\n" + "\n".join(f"• `{line}`" for line in top), SLACK_TEXT_MAX)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(
        f"window due {when}" + (f" · owner {group.owner}" if group.owner else ""), SLACK_TEXT_MAX)}]})
    subject = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in title)
    return Outgoing(subject=_truncate(subject, SUBJECT_MAX, ellipsis="..."), chat=chat, attributes=attributes,
                    slack={"text": _truncate(summary, SLACK_TEXT_MAX), "blocks": blocks},
                    policy=group.policy, resource=group.scope,
                    slack_secret_arn=route.slack_secret_arn if route else None)
