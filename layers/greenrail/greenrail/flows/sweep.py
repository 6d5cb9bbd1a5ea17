"""The scheduled backfill: one step of the daily storage sweep workflow, per account.

``plan``: the accounts to sweep: this account, and in an Organization deployment every active
account of the Organization (ListAccounts: run it from the management account or a delegated
administrator). ``sweep_account``: that account's governed buckets, through its Greenrail role
when it is not this one: per object below the Batch Operations threshold, one prepared Batch
Operations job per object set above it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, field_validator

from greenrail import bus
from greenrail.aws import acting_in, error_code, region
from greenrail.decision import Decision, Mode
from greenrail.flows import Once, Publish
from greenrail.flows.event import settle_object
from greenrail.policies import storage
from greenrail.settings import settings
from greenrail.state import BlastRadius, run_once
from greenrail.validation import AccountId

logger = logging.getLogger(__name__)


class SweepInput(BaseModel):
    """The sweep function's input: ``{"plan": true}``, ``{"account": "<twelve digits>"}``, or ``{}``
    (this account). Anything else (a null or numeric account, another field) is malformed."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    plan: StrictBool = False
    account: AccountId | None = None  # absent: this account

    @field_validator("account", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("an account id, or no account field for this account")
        return value


@dataclass
class SweepResult:
    bucket: str
    evaluated: int = 0
    decisions: list[Decision] = field(default_factory=list)
    batch_jobs: dict[str, str] = field(default_factory=dict)


def plan(own: str) -> dict[str, Any]:
    """The accounts to sweep: this one, and every other active account of the Organization."""
    from greenrail.adapters import organizations

    accounts = [own]
    if settings().member_role_name:
        try:
            accounts += [account for account in organizations.active_accounts() if account != own]
        except Exception as exc:  # not the management or a delegated administrator account
            logger.error("cannot list the Organization's accounts: sweeping this account only",
                         extra={"error": error_code(exc)})
            return {"targets": [{"account": own}], "plan_failed": error_code(exc)}
    return {"targets": [{"account": account} for account in accounts]}


def sweep_account(account: str, own: str, policy: storage.StoragePolicy, context: Any = None) -> dict[str, Any]:
    """Sweep one account's governed buckets; one bucket's failure does not stop the others."""
    if policy.mode == Mode.OFF:
        return {"account": account, "status": "off", "buckets": {}}
    if account != own and not settings().member_batch_role_name:
        # no Batch Operations role in member accounts (MemberBatchOperationsRoleName empty): their
        # objects are tagged one by one, within the blast radius
        policy = policy.model_copy(update={"sweep": policy.sweep.model_copy(
            update={"batch_operations_threshold": 2**62})})
    blast = BlastRadius(storage.POLICY, policy.blast_radius.max_actions_per_hour)

    def once(subject: dict[str, Any], work: Any) -> Any:
        return run_once(subject, work, storage.POLICY, context)

    report: dict[str, Any] = {"account": account, "status": "swept", "buckets": {}, "evaluated": 0, "errors": 0}
    with acting_in(account):
        for bucket in storage.governed_buckets(policy):
            try:
                if started := from_inventory(bucket, policy, account, own):
                    report["buckets"][bucket.name] = started  # the inventory state machine sweeps it
                    continue
                result = sweep_bucket(bucket, policy, account, region(), blast, once, bus.publish)
            except Exception as exc:  # one bucket's failure must not stop the others
                code = error_code(exc)
                logger.error("bucket sweep failed", extra={"bucket": bucket.name, "error": code, "detail": str(exc)})
                report["buckets"][bucket.name] = {"error": code}
                report["errors"] += 1
                continue
            report["evaluated"] += result.evaluated
            report["buckets"][bucket.name] = {
                "evaluated": result.evaluated, "decisions": len(result.decisions), "batch_jobs": result.batch_jobs,
            }
    return report


def from_inventory(bucket: storage.Bucket, policy: storage.StoragePolicy, account: str,
                   own: str | None = None) -> dict[str, Any] | None:
    """Start the inventory sweep of a bucket that has a usable S3 Inventory (with a manifest
    bucket and the inventory state machine deployed; a member account's bucket when its
    inventory is delivered to Greenrail's account, see ``inventory.find_inventory``); None: list
    it instead."""
    from greenrail.flows import inventory

    machine = settings().storage_inventory_arn
    if not (policy.inventory.enabled and policy.sweep.manifest_bucket and machine) \
            or policy.exemptions.exempts(bucket.name, bucket.tags):
        return None
    try:
        manifest = inventory.find_inventory(bucket.name, policy, own=own or account)
    except Exception as exc:  # no inventory permission on that bucket, its destination unreadable...
        logger.warning("cannot read the bucket's inventory configuration: listing it",
                       extra={"bucket": bucket.name, "error": error_code(exc)})
        return None
    if manifest is None:
        return None
    return inventory.start(bucket.name, manifest, policy, account, region(), machine)


def sweep_bucket(bucket: storage.Bucket, policy: storage.StoragePolicy, account: str, region: str,
                 blast_radius: Any, once: Once, publish: Publish) -> SweepResult:
    """Backfill one governed bucket: per object below the batch threshold, a Batch job above it.

    Only objects without tags go into a Batch Operations job (S3PutObjectTagging replaces an
    object's whole tag set); tagged objects are always tagged one by one, keeping their tags.
    A bucket of more objects than ``inventory.listing_threshold`` is not listed further: one
    ``recommend-inventory`` decision instead (S3 Inventory then feeds the inventory sweep).
    """
    from itertools import islice

    from greenrail.adapters import s3
    from greenrail.flows import inventory

    threshold = policy.inventory.listing_threshold
    listing = list(islice(s3.list_objects(bucket.name), threshold + 1))
    if len(listing) > threshold:
        subject = {"bucket": bucket.name, "recommend-inventory": threshold, "mode": policy.mode.value}

        def recommend() -> dict[str, Any]:  # once: one decision (and one configuration created)
            decision = inventory.recommend_inventory(bucket, policy, account, region, len(listing))
            publish([decision])
            return decision.model_dump(mode="json")

        return SweepResult(bucket.name, evaluated=0, decisions=[Decision.model_validate(once(subject, recommend))])
    scanned = storage.scan_bucket(bucket, policy, account, region, policy.mode, listing=listing)
    result = SweepResult(bucket.name, evaluated=len(scanned))
    pending = [(d, o) for d, o in scanned if d.action == "tag"]
    # objects tagged by a run that failed before announcing: settle_object finds its record
    recheck = [(d, o) for d, o in scanned if d.already_applied]
    if len(pending) > policy.sweep.batch_operations_threshold:
        untagged = [(d, o) for d, o in pending if not o.tags]
        pending = [(d, o) for d, o in pending if o.tags]

        if untagged:
            # The same set of objects (by key and ETag) gets one manifest and one job, however many
            # sweeps see it; preparing and announcing are two steps, as for single objects.
            digest = hashlib.sha256("\n".join(sorted(f"{o.key}\t{o.etag}" for _, o in untagged)).encode()).hexdigest()
            subject = {"bucket": bucket.name, "batch": digest, "mode": policy.mode.value}

            def prepare() -> list[dict[str, Any]]:
                decisions, _ = storage.batch_job_decisions(bucket, untagged, policy, account, region, digest[:16])
                return [d.model_dump(mode="json") for d in decisions]

            result.decisions = [Decision.model_validate(d) for d in once(subject, prepare)]

            def announce() -> dict[str, Any]:
                publish(result.decisions)
                return {"published": True}

            once({**subject, "announce": True}, announce)
            result.batch_jobs = {d.target["storage_class"]: d.figures.get("batch_job_id", "") for d in result.decisions}
    for decision, obj in pending + recheck:
        outcome = settle_object(decision, obj, policy, blast_radius, once, publish)
        if outcome.action != "none":
            result.decisions.append(outcome)
    return result
