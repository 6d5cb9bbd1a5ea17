"""Greenrail's state table (``GREENRAIL_STATE_TABLE``): idempotency records and blast-radius counters.

One DynamoDB table, partition key ``id``, TTL attribute ``expiration``.

* Idempotency is Powertools' ``idempotent_function``, keyed on the resource and its state (an
  S3 object's bucket, key and ETag; a training job's ARN and status), never on the event id
  alone: SageMaker and S3 may send the same change more than once, with different ids.
* The blast radius is a counter per policy and clock hour, incremented atomically with a
  condition on the cap, so concurrent invocations cannot exceed it. The same item holds the
  digests of the subjects (a resource and its state) that took a slot, so a retried action
  reuses its slot instead of taking a second one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from greenrail.aws import client, error_code
from greenrail.decision import Decision
from greenrail.permissions import calls
from greenrail.settings import settings

HOUR_SECONDS = 3600
logger = logging.getLogger(__name__)


def table_name() -> str | None:
    return settings().state_table


# Long enough that the daily sweep does not announce an unchanged object again: dry-run decisions
# come back as a reminder once a month at most.
IDEMPOTENCY_SECONDS = 30 * 24 * HOUR_SECONDS


def idempotency_config(key_jmespath: str, expires_after_seconds: int = IDEMPOTENCY_SECONDS) -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath=key_jmespath,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=expires_after_seconds,
        use_local_cache=False,
    )


def persistence_layer() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    name = table_name()
    if not name:
        raise RuntimeError("GREENRAIL_STATE_TABLE is not set")
    return DynamoDBPersistenceLayer(table_name=name, boto3_client=client("dynamodb"))


def holder_digest(subject: str) -> str:
    """What the counter item keeps of a subject: 16 characters (96 bits of its SHA-256), so that
    an hour of a large cap still fits DynamoDB's 400 KB item."""
    return base64.urlsafe_b64encode(hashlib.sha256(subject.encode()).digest()[:12]).decode()


class BlastRadius:
    """At most ``cap`` actions per clock hour for one policy (in this account and region).

    A slot is taken for a ``subject``: the resource and the state acted on (a training job's ARN
    and "stop"; an object's bucket, key, ETag and target class). Taking it again for the same
    subject in the same hour (the invocation was retried after a failure) reuses the slot.
    """

    def __init__(self, policy: str, cap: int, table: str | None = None):
        self.policy = policy
        self.cap = cap
        self.table = table or table_name()
        self._local_holders: set[str] = set()  # without a table (CLI runs): counted in this process only

    @calls("dynamodb:UpdateItem", central=True)
    def acquire(self, subject: str, now: datetime | None = None) -> bool:
        """Take one action slot for ``subject``; True when it holds one (taken now, or earlier this
        hour), False when this hour's cap is reached."""
        if self.cap <= 0:
            return False
        holder = holder_digest(subject)
        if not self.table:
            if holder in self._local_holders:
                return True
            if len(self._local_holders) >= self.cap:
                return False
            self._local_holders.add(holder)
            return True
        now = now or datetime.now(UTC)
        key = {"id": {"S": f"blast-radius#{self.policy}#{now.strftime('%Y-%m-%dT%H')}"}}
        values: dict[str, Any] = {":one": {"N": "1"}, ":cap": {"N": str(self.cap)},
                  ":expires": {"N": str(int(time.time()) + 2 * HOUR_SECONDS)}}
        try:
            # one atomic write: count the slot and record its holder, unless the cap is reached
            # or the subject already holds a slot (then the old item says which it was)
            client("dynamodb").update_item(
                TableName=self.table, Key=key,
                UpdateExpression="ADD #count :one, holders :holder SET expiration = :expires",
                ConditionExpression="(attribute_not_exists(#count) OR #count < :cap) AND NOT contains(holders, :subject)",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={**values, ":holder": {"SS": [holder]}, ":subject": {"S": holder}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                old = getattr(exc, "response", {}).get("Item") or {}
                return holder in (old.get("holders") or {}).get("SS", [])  # held already: reused; else capped
            if code == "ValidationException" and "maximum allowed size" in str(exc):
                return self._count_only(key, values)
            raise
        return True

    @calls("dynamodb:UpdateItem", central=True)
    def _count_only(self, key: dict[str, Any], values: dict[str, Any]) -> bool:
        """The hour's holders no longer fit the item (a cap of tens of thousands): count the slot
        without its holder, so that a retry in this hour takes another slot."""
        logger.warning("blast radius of %s: holders no longer fit the counter item; counting without them",
                       self.policy)
        try:
            client("dynamodb").update_item(
                TableName=self.table, Key=key, UpdateExpression="ADD #count :one SET expiration = :expires",
                ConditionExpression="attribute_not_exists(#count) OR #count < :cap",
                ExpressionAttributeNames={"#count": "count"}, ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


@calls("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", central=True)
def run_once(subject: dict[str, Any], work: Any, name: str, context: Any = None) -> Any:
    """Run ``work()`` once per ``subject`` (a resource and its state); repeats get the first result.

    Uses Powertools idempotency on the state table; without a table (CLI runs) it just runs.
    ``name`` is the key's prefix: every function that uses the same name shares the records (the
    storage event handler and the sweep do, so one object state is announced once by either).
    """
    if not table_name():
        return work()
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    def once(subject: dict[str, Any]) -> Any:
        return work()

    once.__qualname__ = name
    config = idempotency_config("@")
    if context is not None:
        config.register_lambda_context(context)
    decorated = idempotent_function(
        data_keyword_argument="subject", persistence_store=persistence_layer(), config=config,
        key_prefix=f"greenrail-{name}",
    )(once)
    return decorated(subject=subject)


# ---------------------------------------------------------------- stop records (training)
# An applied stop is kept until it is announced: if the publish after a successful
# StopTrainingJob fails, the next watch turn recalls it and announces it then.
STOP_MARKER_SECONDS = 2 * 86_400  # an unannounced stop is recalled for two days at most


def _stop_marker_key(arn: str) -> dict[str, Any]:
    return {"id": {"S": f"training-stop#{arn}"}}


@calls("dynamodb:UpdateItem", central=True)
def remember_stop(decision: Decision) -> None:
    """Keep an applied stop decision in the state table, so that it can still be announced if
    publishing it fails (best effort: a failure here is logged, the stop itself stands)."""
    table = table_name()
    if not table:
        return
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key=_stop_marker_key(decision.resource),
            UpdateExpression="SET #decision = :decision, expiration = :expires",
            ExpressionAttributeNames={"#decision": "decision"},
            ExpressionAttributeValues={
                ":decision": {"S": decision.model_dump_json()},
                ":expires": {"N": str(int(time.time()) + STOP_MARKER_SECONDS)},
            },
        )
    except Exception as exc:
        logger.warning("stop of %s not remembered: %s", decision.resource, exc)


@calls("dynamodb:UpdateItem", central=True)
def recall_stop(arn: str) -> Decision | None:
    """The stop decision Greenrail applied to the job ``arn``, if it remembered one.

    UpdateItem (with ReturnValues) rather than GetItem: it is the one state-table action the
    watch's role holds; the condition keeps an absent marker from creating an item.
    """
    table = table_name()
    if not table:
        return None
    try:
        response = client("dynamodb").update_item(
            TableName=table,
            Key=_stop_marker_key(arn),
            UpdateExpression="SET recalled_at = :now",
            ConditionExpression="attribute_exists(#decision) AND attribute_not_exists(announced)",
            ExpressionAttributeNames={"#decision": "decision"},
            ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
            ReturnValues="ALL_OLD",
        )
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise
    return Decision.model_validate_json(response["Attributes"]["decision"]["S"])


@calls("dynamodb:UpdateItem", central=True)
def mark_announced(decision: Decision) -> None:
    """The stop decision is published: it must not be recalled (and announced) again."""
    table = table_name()
    if not table or decision.action != "stop" or not (decision.applied or decision.announced_late):
        return
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key=_stop_marker_key(decision.resource),
            UpdateExpression="SET announced = :yes",
            ConditionExpression="attribute_exists(#decision)",
            ExpressionAttributeNames={"#decision": "decision"},
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            logger.warning("announcement of the stop of %s not recorded: %s", decision.resource, exc)
