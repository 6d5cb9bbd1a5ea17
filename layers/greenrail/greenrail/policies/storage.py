"""Storage policy: move ML training and test data to cheaper S3 storage classes.

A bucket is governed when it carries the opt-in tag (``greenrail:storage=managed``) or is listed
in the policy. Each object in it is classified by its key: a path segment naming re-creatable
ML data (``train``, ``test``, ``validation``...) goes to One Zone-IA (one AZ: only for data that
can be re-created), everything else to Intelligent-Tiering. Objects are never copied: Greenrail
tags each object with its target class, and keeps, in the bucket's lifecycle configuration,
managed rules filtered on that tag, merged with the bucket's own rules.

Skipped: objects under 128 KiB (the IA classes bill 128 KiB minimum and Intelligent-Tiering does
not tier them; S3 User Guide, "Storage classes"), exempt objects or buckets, objects already in
(or already tagged for) their target class.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Final, Literal

from pydantic import Field, field_validator

from greenrail import arn as arns
from greenrail.config import OWNER_TAG_KEY, BlastRadiusCap, Exemptions, Strict
from greenrail.decision import Decision, Mode, Savings
from greenrail.protocol import PolicyDefinition, Rule, Trigger
from greenrail.units import usd

POLICY: Final = "storage"


# ---------------------------------------------------------------- configuration (policy document `storage:`)
class StorageClassRule(Strict):
    """Objects with a key path segment in ``segments`` go to ``storage_class``."""

    segments: list[str]
    storage_class: Literal["ONEZONE_IA", "INTELLIGENT_TIERING", "STANDARD_IA"]


def _default_storage_rules() -> list[StorageClassRule]:
    return [
        StorageClassRule(
            segments=["train", "training", "test", "validation", "val"], storage_class="ONEZONE_IA"
        )
    ]


class StorageSweep(Strict):
    batch_operations_threshold: int = Field(default=10_000, ge=1)
    manifest_bucket: str | None = None
    batch_operations_role_arn: str | None = None


class StorageInventory(Strict):
    """Buckets of millions of objects: read from S3 Inventory instead of listed (storage.inventory)."""

    enabled: bool = Field(default=True, description="sweep a bucket from its newest S3 Inventory when it has one")
    listing_threshold: int = Field(default=100_000, ge=1, description=(
        "a bucket without inventory is listed up to this many objects; above it the sweep "
        "recommends an inventory (recommend-inventory) instead of listing it"))
    prefix_depth: int = Field(default=2, ge=0, le=10, description=(
        "decisions are aggregated per bucket x target class x key prefix of this many directory levels"))
    max_decisions_per_bucket: int = Field(default=50, ge=1, description=(
        "at most this many prefix decisions per bucket and inventory, those saving most a month; the "
        "other prefixes are folded, per target class, into one decision whose figures count them "
        "(prefixes, objects, bytes and savings summed). Tagging is the same: jobs are per class"))
    allow_create_inventory: bool = Field(default=False, description=(
        "in enforce mode, create a daily CSV inventory configuration (to storage.sweep.manifest_bucket) "
        "for a bucket above the listing threshold"))
    max_manifest_age_days: int = Field(default=8, ge=1, description="an older newest inventory is not swept")
    tagging: Literal["merge", "replace"] = Field(default="merge", description=(
        "how the objects to tag are tagged in enforce mode: merge, one S3 Batch Operations LambdaInvoke job "
        "per target class over every chosen object, whose function (StorageTagMergeFunction) reads each "
        "object's tags when its task runs and adds Greenrail's, every tag kept; replace, the cheaper "
        "S3PutObjectTagging job (it replaces the whole tag set) for the objects found without tags and one "
        "PutObjectTagging per object with tags: a tag added between the decide step and the job is lost"))
    max_merges_per_sweep: int = Field(default=10_000, ge=0, description=(
        "tagging: replace only: objects that already have tags are tagged one by one (their tags kept), "
        "at most this many a sweep"))
    rows_per_batch: int = Field(default=1000, ge=1, le=10_000, description=(
        "inventory rows per decide invocation (ItemBatcher; at most 256 KiB of rows a batch)"))
    tolerated_failure_percentage: float = Field(default=10.0, ge=0, le=100, description=(
        "batches that may fail (a corrupt inventory file) before the whole inventory sweep stops"))
    confirm_batch_jobs: bool = Field(default=False, description=(
        "create the Batch Operations jobs awaiting confirmation instead of running them"))


class StoragePolicy(Strict):
    mode: Mode = Mode.DRY_RUN
    opt_in_tag_key: str = "greenrail:storage"
    opt_in_tag_value: str = "managed"
    buckets: list[str] = Field(default_factory=list, description="governed even without the opt-in tag")
    rules: list[StorageClassRule] = Field(default_factory=_default_storage_rules)
    default_storage_class: Literal["INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA"] = (
        "INTELLIGENT_TIERING"
    )
    min_object_size_bytes: int = Field(default=128 * 1024, ge=0)
    transition_days: dict[str, int] = Field(
        default_factory=lambda: {"ONEZONE_IA": 30, "STANDARD_IA": 30, "INTELLIGENT_TIERING": 0}
    )
    target_tag_key: str = "greenrail:storage-class"
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadiusCap = Field(default_factory=lambda: BlastRadiusCap(max_actions_per_hour=10_000))
    sweep: StorageSweep = Field(default_factory=StorageSweep)
    inventory: StorageInventory = Field(default_factory=StorageInventory)
    # Object keys may hold personal data: log lines name an object by its key's short hash unless
    # this is set (published decisions, the audit trail, always carry the full key).
    log_object_keys: bool = False

    @field_validator("transition_days")
    @classmethod
    def _ia_minimum(cls, days: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(days) - {"ONEZONE_IA", "STANDARD_IA", "INTELLIGENT_TIERING"})
        if unknown:
            raise ValueError(f"unknown storage classes {unknown}: use ONEZONE_IA, STANDARD_IA, INTELLIGENT_TIERING")
        if any(value < 0 for value in days.values()):
            raise ValueError("days cannot be negative")
        for storage_class in ("ONEZONE_IA", "STANDARD_IA"):
            if days.get(storage_class, 30) < 30:
                # S3 refuses lifecycle transitions to the IA classes before 30 days.
                raise ValueError(f"{storage_class} transitions need at least 30 days")
        return days

MANAGED_RULE_PREFIX = "greenrail-"
_COLD = frozenset({"GLACIER", "DEEP_ARCHIVE"})
# Where S3 Lifecycle can move an object from (S3 User Guide, "Transitioning objects using Amazon
# S3 Lifecycle", supported transitions): only down the waterfall, never back up.
LIFECYCLE_TRANSITIONS: dict[str, frozenset[str]] = {
    "STANDARD": frozenset({"STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR"}) | _COLD,
    "REDUCED_REDUNDANCY": frozenset({"STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR"}) | _COLD,
    "STANDARD_IA": frozenset({"INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR"}) | _COLD,
    "INTELLIGENT_TIERING": frozenset({"ONEZONE_IA", "GLACIER_IR"}) | _COLD,
    "ONEZONE_IA": _COLD,
    "GLACIER_IR": _COLD,
}
GB = 1024**3


@dataclass(frozen=True)
class StorageObject:
    """An S3 object as the policy sees it."""

    bucket: str
    key: str
    size: int
    etag: str
    storage_class: str = "STANDARD"
    tags: dict[str, str] = field(default_factory=dict)
    last_modified: str = ""

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Bucket:
    name: str
    tags: dict[str, str] = field(default_factory=dict)


def key_sha256(key: str) -> str:
    """A short, stable stand-in for an object key in log lines (keys may hold personal data)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def object_log_keys(key: str, policy: StoragePolicy) -> dict[str, str]:
    """How log lines name an object: its key's short hash, or the key when the policy opts in."""
    return {"key": key} if policy.log_object_keys else {"key_sha256": key_sha256(key)}


def loggable(decision: Decision, policy: StoragePolicy) -> dict[str, Any]:
    """A decision as logged (``scan_line``): an object's key replaced by its short hash in the
    resource and the reason, unless ``log_object_keys``. The published decision keeps the key."""
    line = decision.scan_line()
    parsed = arns.parse(decision.resource)
    if policy.log_object_keys or parsed is None or parsed.service != "s3" or "/" not in parsed.resource:
        return line
    bucket, _, key = parsed.resource.partition("/")
    digest = key_sha256(key)
    line["resource"] = f"arn:{parsed.partition}:s3:::{bucket}"
    line["key_sha256"] = digest
    line["reason"] = line["reason"].replace(f"{bucket}/{key}", f"{bucket}/<key sha256 {digest}>")
    return line


def is_governed(bucket: Bucket, policy: StoragePolicy) -> bool:
    return bucket.name in policy.buckets or bucket.tags.get(policy.opt_in_tag_key) == policy.opt_in_tag_value


def classify(key: str, policy: StoragePolicy) -> tuple[str, str]:
    """(category, target storage class) of a key: the first rule one of whose segments is in the key."""
    segments = {segment.lower() for segment in re.split(r"[/]", key)[:-1]}
    for rule in policy.rules:
        for name in rule.segments:
            if name.lower() in segments:
                return name.lower(), rule.storage_class
    return "other", policy.default_storage_class


# ---------------------------------------------------------------- savings
@lru_cache(maxsize=1)
def _prices() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("greenrail").joinpath("data", "s3_prices.json").read_text())
    return data


def monthly_savings(size_bytes: int, current_class: str, target_class: str, region: str) -> tuple[Savings, dict[str, Any]]:
    """USD and kgCO2e saved per month by storing ``size_bytes`` in ``target_class``.

    USD: size x (current price - target price) from data/s3_prices.json; for Intelligent-Tiering
    the target is its Infrequent Access tier, less the per-object monitoring fee. kgCO2e: the
    carbon model's S3 storage coefficients (replication factor of each class).
    """
    from greenrail.carbon import storage_kgco2e_per_gb_month

    prices = _prices()
    table = prices["usd_per_gb_month"]
    size_gb = size_bytes / GB
    current = table.get(current_class, table["STANDARD"])
    if target_class == "INTELLIGENT_TIERING":
        target = table["INTELLIGENT_TIERING_INFREQUENT"]
        fee = prices["intelligent_tiering_monitoring_usd_per_1000_objects_month"] / 1000
    else:
        target, fee = table[target_class], 0.0
    usd = size_gb * (current - target) - fee
    kg = size_gb * (
        storage_kgco2e_per_gb_month(current_class if current_class in table else "STANDARD", region)
        - storage_kgco2e_per_gb_month(target_class, region)
    )
    figures = {
        "size_gb": round(size_gb, 6),
        "usd_per_gb_month_current": current,
        "usd_per_gb_month_target": target,
        "monitoring_fee_usd_month": fee,
        "price_source": prices["source"],
    }
    return Savings(usd_per_month=round(usd, 9), kgco2e_per_month=round(kg, 12)), figures


# ---------------------------------------------------------------- the object decision
def decide(obj: StorageObject, bucket: Bucket, policy: StoragePolicy, account: str, region: str,
           event_id: str | None = None, mode: Mode | None = None) -> Decision:
    """What should happen to one object of a governed bucket (nothing is done here)."""
    mode = mode or policy.mode
    category, target_class = classify(obj.key, policy)
    base: dict[str, Any] = {
        "policy": POLICY, "resource": obj.arn, "account": account, "region": region,
        "mode": mode, "event_id": event_id, "target": {"storage_class": target_class},
        "owner": obj.tags.get(OWNER_TAG_KEY) or bucket.tags.get(OWNER_TAG_KEY),
    }
    figures: dict[str, Any] = {"category": category, "size_bytes": obj.size, "current_storage_class": obj.storage_class}

    def none(reason: str, already_applied: bool = False) -> Decision:
        return Decision(**base, action="none", compliant=True, reason=reason, figures=figures,
                        severity="INFORMATIONAL", already_applied=already_applied)

    exemptions = policy.exemptions
    if exemptions.exempts(bucket.name, bucket.tags):
        return none(f"bucket {bucket.name} is exempt")
    if exemptions.exempts(obj.key, obj.tags):
        return none("object is exempt")
    if obj.size < policy.min_object_size_bytes:
        return none(f"object is {obj.size} bytes, under the {policy.min_object_size_bytes}-byte minimum "
                    "below which tiering does not pay")
    if obj.storage_class == target_class:
        return none(f"already in {target_class}")
    if obj.tags.get(policy.target_tag_key) == target_class:
        figures["already_tagged"] = True  # perhaps by us, in a run that did not get to announce it
        return none(f"already tagged for {target_class}; the bucket's lifecycle rule moves it", already_applied=True)
    if target_class not in LIFECYCLE_TRANSITIONS.get(obj.storage_class, frozenset()):
        return none(f"S3 Lifecycle cannot move {obj.storage_class} objects to {target_class}")
    savings, money = monthly_savings(obj.size, obj.storage_class, target_class, region)
    figures.update(money)
    if savings.usd_per_month <= 0:
        return none(f"moving it from {obj.storage_class} to {target_class} would not save money "
                    f"(${usd(savings.usd_per_month)}/month)")
    figures["transition_after_days"] = policy.transition_days.get(target_class, 0)
    return Decision(
        **base, action="tag", compliant=False, savings=savings, figures=figures, severity="LOW",
        reason=(f"{category} data in {obj.storage_class}: tag {policy.target_tag_key}={target_class} so the "
                f"lifecycle rule moves it after {figures['transition_after_days']} days "
                f"(saves ${usd(savings.usd_per_month)}/month)"),
    )


# ---------------------------------------------------------------- lifecycle rules
def managed_rules(policy: StoragePolicy) -> list[dict[str, Any]]:
    """Greenrail's lifecycle rules: one per target class, filtered on the object tag."""
    classes = sorted({rule.storage_class for rule in policy.rules} | {policy.default_storage_class})
    return [
        {
            "ID": f"{MANAGED_RULE_PREFIX}{storage_class.lower().replace('_', '-')}",
            "Status": "Enabled",
            "Filter": {"Tag": {"Key": policy.target_tag_key, "Value": storage_class}},
            "Transitions": [{"Days": policy.transition_days.get(storage_class, 0), "StorageClass": storage_class}],
        }
        for storage_class in classes
    ]


def merge_lifecycle(existing: list[dict[str, Any]], policy: StoragePolicy) -> list[dict[str, Any]] | None:
    """The bucket's rules with Greenrail's managed rules in place, or None when nothing changes.

    The bucket's own rules are kept as they are, whatever they say; only rules whose ID starts
    with ``greenrail-`` are Greenrail's to replace.
    """
    own = [rule for rule in existing if not str(rule.get("ID", "")).startswith(MANAGED_RULE_PREFIX)]
    current_managed = [rule for rule in existing if str(rule.get("ID", "")).startswith(MANAGED_RULE_PREFIX)]
    wanted = managed_rules(policy)
    if _canonical(current_managed) == _canonical(wanted):
        return None
    return own + wanted


def _canonical(rules: list[dict[str, Any]]) -> list[str]:
    # Compare what matters, not how S3 echoes it back (it may add empty or default fields).
    keep = ("ID", "Status", "Filter", "Transitions")
    return sorted(json.dumps({k: rule.get(k) for k in keep}, sort_keys=True, default=str) for rule in rules)


# ---------------------------------------------------------------- running the policy
def load_bucket(name: str) -> Bucket:
    from greenrail.adapters import s3

    return Bucket(name, s3.bucket_tags(name))


def load_object(bucket: str, key: str) -> StorageObject:
    from greenrail.adapters import s3

    head = s3.head_object(bucket, key)
    return StorageObject(
        bucket=bucket, key=key, size=int(head.get("ContentLength", 0)), etag=str(head.get("ETag", "")).strip('"'),
        storage_class=head.get("StorageClass", "STANDARD"), tags=s3.object_tags(bucket, key),
        last_modified=_timestamp(head.get("LastModified")),
    )


def _timestamp(value: Any) -> str:
    # HeadObject gives whole seconds, ListObjectsV2 milliseconds: compare on whole seconds
    return value.replace(microsecond=0).isoformat() if hasattr(value, "isoformat") else str(value or "")


def apply(decision: Decision, obj: StorageObject, policy: StoragePolicy, blast_radius: Any) -> Decision:
    """Carry out a ``tag`` decision in enforce mode: lifecycle rules first, then the object's tag.

    The rule goes first so that nothing is half-applied: a tagged object always has a rule, and
    a rule without tagged objects does nothing.
    """
    from greenrail.adapters import s3
    from greenrail.aws import error_code, is_permanent

    if decision.action != "tag" or decision.mode != Mode.ENFORCE:
        return decision
    target = decision.target["storage_class"]
    # the object's state and what is done to it: a retried tag reuses its slot
    if not blast_radius.acquire(f"{obj.bucket}/{obj.key}#{obj.etag}#{target}"):
        return decision.model_copy(update={
            "reason": decision.reason + f"; not applied: blast radius of {policy.blast_radius.max_actions_per_hour} "
                                        "actions per hour reached",
            "figures": {**decision.figures, "blast_radius_reached": True}, "held_back": True,
        })
    try:
        merged = merge_lifecycle(s3.lifecycle_rules(obj.bucket), policy)
        if merged is not None:
            s3.put_lifecycle_rules(obj.bucket, merged)
        s3.put_object_tag(obj.bucket, obj.key, policy.target_tag_key, target, obj.tags)
    except Exception as exc:
        code = error_code(exc)
        if is_permanent(exc):  # access denied, object gone, too many tags, a refused rule...
            return decision.model_copy(update={
                "reason": decision.reason + f"; not applied: {code}: {exc}",
                "figures": {**decision.figures, "error": code}, "error": code,
            })
        raise  # throttling that outlived botocore's retries: the invocation is retried
    return decision.model_copy(update={
        "applied": True, "compliant": True,
        "figures": {**decision.figures, "lifecycle_rules_updated": merged is not None,
                    "tag": f"{policy.target_tag_key}={target}"},
    })


def governed_buckets(policy: StoragePolicy) -> list[Bucket]:
    from greenrail.adapters import s3

    names = set(s3.bucket_names())
    buckets = []
    for name in sorted(names):
        bucket = load_bucket(name)
        if is_governed(bucket, policy):
            buckets.append(bucket)
    return buckets


def scan_bucket(bucket: Bucket, policy: StoragePolicy, account: str, region: str, mode: Mode,
                concurrency: int = 16, listing: list[dict[str, Any]] | None = None) -> list[tuple[Decision, StorageObject]]:
    """Decide for every object of a governed bucket.

    The listing already carries size, ETag and storage class, so objects that are too small or
    already in their class are decided without another call; only the rest need their tags
    (one GetObjectTagging each, ``concurrency`` at a time).
    """
    from concurrent.futures import ThreadPoolExecutor

    from greenrail.adapters import s3

    listed = [
        StorageObject(bucket.name, item["Key"], int(item["Size"]), str(item.get("ETag", "")).strip('"'),
                      item.get("StorageClass", "STANDARD"), last_modified=_timestamp(item.get("LastModified")))
        for item in (listing if listing is not None else s3.list_objects(bucket.name))
    ]

    def needs_tags(obj: StorageObject) -> bool:
        return obj.size >= policy.min_object_size_bytes and obj.storage_class != classify(obj.key, policy)[1]

    def with_tags(obj: StorageObject) -> StorageObject:
        return StorageObject(obj.bucket, obj.key, obj.size, obj.etag, obj.storage_class,
                             s3.object_tags(obj.bucket, obj.key), obj.last_modified)

    candidates = [obj for obj in listed if needs_tags(obj)]
    # Worker threads do not inherit context variables: each task runs in a copy of this one,
    # so a member account's tags are read through that account's role too.
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, with_tags, obj) for obj in candidates]
        tagged = {obj.key: future.result() for obj, future in zip(candidates, futures, strict=True)}
    results = []
    for obj in listed:
        full = tagged.get(obj.key, obj)
        results.append((decide(full, bucket, policy, account, region, mode=mode), full))
    return results


def batch_job_decisions(bucket: Bucket, pending: list[tuple[Decision, StorageObject]], policy: StoragePolicy,
                        account: str, region: str, manifest_id: str) -> tuple[list[Decision], dict[str, str]]:
    """Above the threshold, one S3 Batch Operations tagging job per target class instead of one call per object.

    The job is created with ConfirmationRequired: it waits for a person to confirm it in the S3
    console or with ``s3control update-job-status``. With ``inventory.tagging: merge`` (the
    default) it is a LambdaInvoke merge job: each object's tags are read when its task runs and
    kept (``greenrail.flows.tag_merge``), however long the job waited; with ``replace`` an
    S3PutObjectTagging job, which replaces each object's whole tag set (a tag added while it
    waits is lost).
    """
    from greenrail.adapters import s3
    from greenrail.aws import account_id, acting_in
    from greenrail.settings import settings

    sweep = policy.sweep
    role = batch_role(account, policy)  # a member account's job runs there, as its BatchOperationsRole
    own = account == account_id()
    by_class: dict[str, list[tuple[Decision, StorageObject]]] = {}
    for decision, obj in pending:
        by_class.setdefault(decision.target["storage_class"], []).append((decision, obj))
    merged = merge_lifecycle(s3.lifecycle_rules(bucket.name), policy)
    if merged is not None and policy.mode == Mode.ENFORCE:
        s3.put_lifecycle_rules(bucket.name, merged)
    decisions, jobs = [], {}
    for storage_class, items in sorted(by_class.items()):
        usd = sum(d.savings.usd_per_month for d, _ in items)
        kg = sum(d.savings.kgco2e_per_month for d, _ in items)
        figures: dict[str, Any] = {"objects": len(items), "size_bytes": sum(o.size for _, o in items),
                                   "threshold": sweep.batch_operations_threshold}
        applied = False
        if policy.mode == Mode.ENFORCE and sweep.manifest_bucket and role:
            if own:
                key, reports = f"greenrail/manifests/{bucket.name}/{manifest_id}-{storage_class.lower()}.csv", \
                    "greenrail/reports"
            else:  # the member's Batch Operations role reads and writes its account's folder only
                folder = batch_folder(account, bucket.name, f"listing-{manifest_id}")
                key, reports = f"{folder}/{storage_class.lower()}.csv", f"{folder}/reports"
            with acting_in(None):  # the manifest bucket is Greenrail's own
                etag = s3.write_manifest(sweep.manifest_bucket, key, [(o.bucket, o.key) for _, o in items])
            function = settings().storage_tag_merge_arn if policy.inventory.tagging == "merge" else None
            job_id = create_batch_job(account, sweep.manifest_bucket, key, etag, policy.target_tag_key, storage_class,
                                      role, reports, _token(bucket.name, storage_class, items), function)
            jobs[storage_class] = job_id
            figures.update({"manifest": f"s3://{sweep.manifest_bucket}/{key}", "batch_job_id": job_id})
            applied = True
            reason = (f"{len(items)} objects to tag {policy.target_tag_key}={storage_class}: S3 Batch Operations "
                      f"job {job_id} prepared, awaiting confirmation")
        else:
            missing = "" if policy.mode != Mode.ENFORCE else " (set storage.sweep.manifest_bucket and batch_operations_role_arn)"
            reason = f"{len(items)} objects should be tagged {policy.target_tag_key}={storage_class} by a Batch Operations job{missing}"
        decisions.append(Decision(
            policy=POLICY, resource=f"arn:aws:s3:::{bucket.name}", account=account, region=region,
            action="batch-tag", target={"storage_class": storage_class}, mode=policy.mode, applied=applied,
            compliant=False, reason=reason, figures=figures,
            savings=Savings(usd_per_month=round(usd, 6), kgco2e_per_month=round(kg, 9)), severity="LOW",
        ))
    return decisions, jobs


def create_batch_job(account: str, manifest_bucket: str, key: str, etag: str, tag_key: str, storage_class: str,
                     role: str, reports: str, token: str, merge_function: str | None, confirm: bool = True) -> str:
    """The Batch Operations job tagging a manifest's objects ``tag_key=storage_class``, created in
    ``account`` (through its member role when it is not Greenrail's): a LambdaInvoke merge job
    when ``merge_function`` is given, else an S3PutObjectTagging job."""
    from greenrail.adapters import s3
    from greenrail.aws import acting_in

    with acting_in(account):
        if merge_function:
            return s3.create_merge_job(account, manifest_bucket, key, etag, merge_function, tag_key, storage_class,
                                       role, reports, token, confirm=confirm)
        return s3.create_tagging_job(account, manifest_bucket, key, etag, tag_key, storage_class, role, reports,
                                     token, confirm=confirm)


BATCH_PREFIX = "greenrail/inventory/accounts"  # <account>/<bucket>/<run>/: the jobs' manifests and reports


def batch_folder(account: str, bucket: str, run: str) -> str:
    """Where a job's manifest and report go in the manifest bucket: one folder per account, so
    that a member account's Batch Operations role (org/member-account.yaml) reads and writes its
    own account's jobs only, never another account's object keys."""
    return f"{BATCH_PREFIX}/{account}/{bucket}/{run}"


def batch_role(account: str, policy: StoragePolicy) -> str | None:
    """The role the bucket's Batch Operations jobs run as: in Greenrail's own account the policy's
    ``storage.sweep.batch_operations_role_arn``; in a member account the role the member stack
    creates (``MemberBatchOperationsRoleName``; jobs run in the account that owns the objects)."""
    from greenrail.aws import account_id
    from greenrail.settings import settings

    if account == account_id():
        return policy.sweep.batch_operations_role_arn
    name = settings().member_batch_role_name
    return f"arn:{settings().partition}:iam::{account}:role/{name}" if name else None


def _token(bucket: str, storage_class: str, items: list[tuple[Decision, StorageObject]]) -> str:
    """CreateJob's ClientRequestToken: the same objects make the same token (and the same job)."""
    keys = "\n".join(sorted(f"{o.key}\t{o.etag}" for _, o in items))
    return hashlib.sha256(f"{bucket}\n{storage_class}\n{keys}".encode()).hexdigest()[:64]




def scan(policy: StoragePolicy, mode: Mode) -> list[Decision]:
    """Every object of every governed bucket of this account and region (``greenrail scan``);
    in enforce mode the tags are applied, within the blast radius (the deployed state table's when
    GREENRAIL_STATE_TABLE names it, as ``greenrail scan --mode enforce`` does; else this process's)."""
    from greenrail.aws import acting_account, region
    from greenrail.state import BlastRadius

    account, where = acting_account(), region()  # the account acted in (greenrail scan --accounts)
    blast = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)
    decisions = []
    for bucket in governed_buckets(policy):
        for decision, obj in scan_bucket(bucket, policy, account, where, mode):
            decisions.append(apply(decision, obj, policy, blast))
    return decisions


def _adapters() -> Any:
    from greenrail import bus, document, state
    from greenrail.adapters import s3

    return s3, bus, document, state


def _object_uses() -> tuple[Any, ...]:
    s3, bus, document, state = _adapters()
    return (document.read_parameter, s3.bucket_tags, s3.head_object, s3.object_tags, s3.lifecycle_rules,
            s3.put_lifecycle_rules, s3.put_object_tag, state.run_once, state.BlastRadius.acquire, bus.publish)


def _sweep_uses() -> tuple[Any, ...]:
    from greenrail.adapters import organizations, stepfunctions

    s3, bus, document, state = _adapters()
    return (document.read_parameter, organizations.active_accounts, s3.bucket_names, s3.bucket_tags,
            s3.list_objects, s3.object_tags, s3.lifecycle_rules, s3.put_lifecycle_rules, s3.put_object_tag,
            s3.write_manifest, s3.create_tagging_job, s3.create_merge_job, state.run_once, state.BlastRadius.acquire,
            bus.publish, s3.inventory_configurations, s3.inventory_runs, s3.put_inventory_configuration,
            stepfunctions.start_execution)


def _inventory_uses() -> tuple[Any, ...]:
    """StorageInventoryFunction: prepare, decide each batch of rows, finish (a member account's
    bucket through its member role: its objects' tags, its lifecycle rules, its jobs)."""
    s3, bus, document, state = _adapters()
    return (document.read_parameter, s3.read_object, s3.object_size, s3.object_start, s3.write_object, s3.object_tags,
            s3.lifecycle_rules, s3.put_lifecycle_rules, s3.put_object_tag, s3.write_manifest,
            s3.create_tagging_job, s3.create_merge_job, state.run_once, state.BlastRadius.acquire, bus.publish)


def _tag_merge_uses() -> tuple[Any, ...]:
    """StorageTagMergeFunction: the tasks of the inventory sweep's merge jobs (S3 Batch Operations
    LambdaInvoke; a member account's job through its member role, once the job is found there):
    read an object's tags, write them back with Greenrail's."""
    s3, _bus, document, _state = _adapters()
    return (document.read_parameter, s3.object_tags, s3.put_object_tag, s3.find_job, s3.bucket_tags)


DEFINITION = PolicyDefinition(
    name=POLICY,
    summary="training and test data to One Zone-IA or Intelligent-Tiering (object tags + managed lifecycle rules)",
    config=StoragePolicy,
    decide=decide,
    apply=apply,
    scan=scan,
    triggers=(
        Trigger("StorageObjectFunction", _object_uses, member=True, rules=(
            Rule("ObjectCreated", ("s3-object-created.json",),
                 ("nearmiss/s3-object-deleted.json", "nearmiss/s3-object-created-custom-source.json",
                  "sagemaker-training-job-inprogress.json")),
        )),
        Trigger("StorageSweepFunction", _sweep_uses, member=True),
        Trigger("StorageSweepStateMachine", definition="storage_sweep.asl.json"),
        Trigger("StorageInventoryFunction", _inventory_uses, member=True),
        Trigger("StorageTagMergeFunction", _tag_merge_uses, member=True),
        Trigger("StorageInventoryStateMachine", definition="storage_inventory.asl.json"),
    ),
)
