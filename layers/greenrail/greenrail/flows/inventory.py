"""The storage sweep from S3 Inventory (StorageInventoryStateMachine), for buckets of millions of objects.

``find_inventory``/``start`` (the daily sweep, this account's governed buckets): a bucket with a
usable inventory configuration is not listed; its newest ``manifest.json`` goes to one execution
of the inventory state machine, named from the bucket, the manifest and the policy mode: a weekly
inventory is swept once, not every day, and again only when the mode changes (dry-run, then enforce).

The state machine: ``prepare`` checks the manifest (format, fields) and that every file it lists
is there, and writes the checked manifest (files that are gone left out, named); a Distributed
Map reads it (``ItemReader``, ``InputType: MANIFEST``) and hands batches of rows
(``ItemBatcher``) to ``decide_batch``: the storage rules that need no tags
(``greenrail.storage_inventory``), then one GetObjectTagging per remaining candidate, written to
a fragment CSV in the manifest bucket; ``ResultWriter`` writes the batches' results to S3.
``finish`` reads them: one decision per bucket x target class x key prefix (counts, bytes,
savings; at most ``max_decisions_per_bucket``, the rest folded into one decision per class), one
decision for whatever failed (batches, files gone, an unreadable inventory), and in enforce mode
the managed lifecycle rules and, within the blast radius, per target class:

* ``tagging: merge`` (the default): one S3 Batch Operations ``LambdaInvoke`` job over every chosen
  object, with or without tags: StorageTagMergeFunction (``greenrail.flows.tag_merge``) reads each
  object's tags when its task runs and writes them back with Greenrail's, so a tag added after the
  decide step is kept too; a task that fails is named in the job's completion report and the
  object is chosen again by the next sweep;
* ``tagging: replace``: one ``S3PutObjectTagging`` job over the objects found without any tag (the
  job replaces the tag set: a tag added between the decide step and the job is lost) and one
  PutObjectTagging per object that has tags (its tags read again and kept).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from greenrail import storage_inventory as rows_policy
from greenrail.aws import acting_account, acting_in, error_code, is_permanent
from greenrail.decision import Decision, Mode, Savings
from greenrail.flows import MapOutput, Once, Publish, ResultLocation, StepError
from greenrail.policies import storage
from greenrail.validation import AccountId, BucketName, Region, Utf8Text

logger = logging.getLogger(__name__)
RUN_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z/$")
WORK_PREFIX = "greenrail/inventory"
TAG_LOOKUPS_AT_ONCE = 16
# the first bytes of a readable inventory file (S3 Inventory CSV files are always gzip)
MAGIC = {"CSV": b"\x1f\x8b", "PARQUET": b"PAR1"}


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@lru_cache(maxsize=8)
def prices(region: str) -> rows_policy.Prices:
    return rows_policy.prices_for(region)


# ---------------------------------------------------------------- the daily sweep: which buckets, which manifest
def find_inventory(bucket: str, policy: storage.StoragePolicy, now: datetime | None = None,
                   own: str | None = None) -> dict[str, str] | None:
    """The newest manifest.json of the bucket's first usable inventory configuration, or None.

    Called within ``acting_in(account)``: the configurations are read in the bucket's account.
    The inventory itself is read by Greenrail's own account (``own``): the Distributed Map reads
    it with the state machine's role. A member account's bucket therefore counts only when its
    inventory is delivered to the manifest bucket or to another bucket of Greenrail's account."""
    from greenrail.adapters import s3

    now = now or _now()
    member = own is not None and acting_account() != own
    for configuration in s3.inventory_configurations(bucket):
        if not rows_policy.inventory_usable(configuration):
            continue
        destination = configuration["Destination"]["S3BucketDestination"]
        target = str(destination["Bucket"]).split(":::")[-1]
        if member and target != policy.sweep.manifest_bucket and str(destination.get("AccountId") or "") != own:
            logger.warning("inventory delivered to a bucket Greenrail's account does not own: listing instead",
                           extra={"bucket": bucket, "inventory": configuration["Id"]})
            continue
        prefix = str(destination.get("Prefix") or "").strip("/")
        base = f"{prefix}/{bucket}/{configuration['Id']}/" if prefix else f"{bucket}/{configuration['Id']}/"
        with acting_in(None):  # the destination is read with Greenrail's own role
            listed = s3.inventory_runs(target, base)
        runs = sorted(run for run in listed if RUN_FOLDER.search(run))
        if not runs:
            continue
        taken = datetime.strptime(runs[-1][-18:-1], "%Y-%m-%dT%H-%MZ").replace(tzinfo=UTC)
        if (now - taken).days > policy.inventory.max_manifest_age_days:
            logger.warning("newest inventory too old: listing instead",
                           extra={"bucket": bucket, "taken": taken.isoformat()})
            continue
        return {"Bucket": target, "Key": f"{runs[-1]}manifest.json", "format": destination["Format"]}
    return None


def start(bucket: str, manifest: dict[str, str], policy: storage.StoragePolicy, account: str, region: str,
          state_machine_arn: str) -> dict[str, Any]:
    """One inventory execution per bucket, manifest and policy mode (the name makes it idempotent):
    a weekly inventory is swept once, not every day; a change of mode (dry-run to enforce) sweeps
    the same manifest again."""
    from greenrail.adapters import stepfunctions

    run = _digest(bucket, manifest["Bucket"], manifest["Key"], policy.mode.value)[:24]
    payload = {"bucket": bucket, "account": account, "region": region, "run": run,
               "manifest": {"Bucket": manifest["Bucket"], "Key": manifest["Key"]},
               "work_bucket": policy.sweep.manifest_bucket, "rows_per_batch": policy.inventory.rows_per_batch,
               "tolerated_failure_percentage": policy.inventory.tolerated_failure_percentage}
    name = f"{bucket[:50]}-{run}"
    try:
        execution = stepfunctions.start_execution(state_machine_arn, name, payload)
    except stepfunctions.AlreadyStarted:
        execution = name
    return {"inventory": f"s3://{manifest['Bucket']}/{manifest['Key']}", "execution": execution, "run": run}


def recommend_inventory(bucket: storage.Bucket, policy: storage.StoragePolicy, account: str, region: str,
                        listed: int) -> Decision:
    """A bucket above the listing threshold without a usable inventory: recommend one (and, in
    enforce mode when the policy allows it, create a daily CSV inventory to the manifest bucket)."""
    from greenrail.adapters import s3

    threshold = policy.inventory.listing_threshold
    figures: dict[str, Any] = {"listed_at_least": listed, "listing_threshold": threshold}
    reason = (f"bucket {bucket.name} has more than {threshold:,} objects and no usable S3 Inventory "
              "(CSV or Parquet with Size, StorageClass, ETag, LastModifiedDate): it is not listed object "
              "by object; configure a daily inventory and the sweep reads it instead")
    applied, error = False, None
    if policy.mode == Mode.ENFORCE and policy.inventory.allow_create_inventory and policy.sweep.manifest_bucket:
        from greenrail.aws import account_id

        # delivered to the manifest bucket, which Greenrail's own account owns (a member's bucket too)
        configuration = inventory_configuration(policy.sweep.manifest_bucket, account_id())
        try:
            s3.put_inventory_configuration(bucket.name, configuration)
            applied = True
            figures["inventory_configuration"] = configuration["Id"]
            reason += f"; created inventory configuration {configuration['Id']} (daily, CSV)"
        except Exception as exc:
            if not is_permanent(exc):
                raise
            error = error_code(exc)
            reason += f"; not created: {error}"
    return Decision(policy=storage.POLICY, resource=f"arn:aws:s3:::{bucket.name}", account=account, region=region,
                    action="recommend-inventory", mode=policy.mode, applied=applied, compliant=False, reason=reason,
                    figures=figures, severity="LOW", error=error)


def inventory_configuration(destination_bucket: str, account: str) -> dict[str, Any]:
    return {
        "Id": "greenrail", "IsEnabled": True, "IncludedObjectVersions": "Current",
        "Destination": {"S3BucketDestination": {"AccountId": account, "Bucket": f"arn:aws:s3:::{destination_bucket}",
                                                "Format": "CSV", "Prefix": f"{WORK_PREFIX}-reports"}},
        "Schedule": {"Frequency": "Daily"},
        "OptionalFields": ["Size", "LastModifiedDate", "StorageClass", "ETag"],
    }


# ---------------------------------------------------------------- the state machine's steps
class MalformedBatch(ValueError):
    """A batch of rows that cannot be decided: it fails (the Map goes on) and ``finish`` reports
    it. The message names fields and problems, never values."""


class Sweep(BaseModel):
    """The execution's input (``start``): the bucket swept, where Greenrail writes."""

    model_config = ConfigDict(extra="ignore", defer_build=True)  # the state carries more (rows_per_batch, the steps' outputs)

    bucket: BucketName
    account: AccountId
    region: Region
    run: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")
    work_bucket: BucketName


class PrepareRequest(Sweep):
    manifest: ResultLocation  # the inventory's manifest.json


class BatchContext(Sweep):
    format: Literal["CSV", "PARQUET"] = "CSV"


class BatchRequest(BaseModel):
    """One ItemBatcher batch: the rows, and the ``BatchInput`` the state machine adds."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    Items: list[dict[str, Any]] = Field(min_length=1)
    BatchInput: BatchContext


class Prepared(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    gone: list[Utf8Text] = Field(default_factory=list)
    unreadable: list[Utf8Text] = Field(default_factory=list)
    problems: list[Utf8Text] = Field(default_factory=list)


class FinishRequest(PrepareRequest):
    prepared: Prepared | None = None
    map: MapOutput | None = None
    map_error: StepError | None = None


def prepare(request: PrepareRequest) -> dict[str, Any]:
    """Check the manifest and its files; write the checked manifest the Distributed Map reads."""
    from greenrail.adapters import s3

    source = request.manifest.model_dump()
    work_bucket, run, bucket = request.work_bucket, request.run, request.bucket
    base = f"{WORK_PREFIX}/{bucket}/{run}"
    out: dict[str, Any] = {"files": 0, "gone": [], "unreadable": [], "problems": [], "results_prefix": f"{base}/results",
                           "manifest": {"Bucket": work_bucket, "Key": f"{base}/manifest.json"}, "format": "CSV"}
    try:
        manifest = json.loads(s3.read_object(source["Bucket"], source["Key"]))
    except Exception as exc:
        if not is_permanent(exc) and not isinstance(exc, ValueError):
            raise
        out["problems"] = [f"s3://{source['Bucket']}/{source['Key']}: {error_code(exc) if not isinstance(exc, ValueError) else 'not JSON'}"]
        return out
    out["problems"] = rows_policy.manifest_problems(manifest)
    if out["problems"]:
        return out
    destination = str(manifest["destinationBucket"]).split(":::")[-1]
    present = []
    out["format"] = str(manifest.get("fileFormat", "CSV")).upper()
    magic = MAGIC[out["format"]]
    for entry in manifest["files"]:
        start = s3.object_start(destination, entry["key"], len(magic))
        if start is None:
            out["gone"].append(entry["key"])
        elif start != magic:  # the ItemReader would fail the whole Map on it: left out, named
            out["unreadable"].append(entry["key"])
        else:
            present.append(entry)
    out["files"] = len(present)
    s3.write_object(work_bucket, out["manifest"]["Key"], json.dumps({**manifest, "files": present}).encode())
    return out


def decide_batch(request: BatchRequest, policy: storage.StoragePolicy) -> dict[str, Any]:
    """One ItemBatcher batch: the rules on rows, tags for the candidates, a fragment CSV of the
    objects to tag. Malformed rows fail the batch (``MalformedBatch``: it is reported, the others go on)."""
    from greenrail.adapters import s3

    context = request.BatchInput
    bucket, region = context.bucket, context.region
    items = request.Items
    costs = prices(region)
    try:
        outcome = rows_policy.decide_rows(items, policy, costs, url_encoded=context.format == "CSV")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # the row's values are not logged
        raise MalformedBatch(f"malformed inventory rows: {type(exc).__name__}") from None

    def lookup(candidate: rows_policy.Candidate) -> dict[str, str] | None:
        try:
            with acting_in(context.account):  # a member account's bucket: through its role
                return s3.object_tags(bucket, candidate.key)
        except Exception as exc:
            # deleted since the inventory was taken: 404, or 403 as S3 answers a role without
            # s3:ListBucket (this one); an object whose tags cannot be read is not tagged either
            if error_code(exc) in ("NoSuchKey", "404", "403", "AccessDenied"):
                return None
            raise

    with ThreadPoolExecutor(max_workers=TAG_LOOKUPS_AT_ONCE) as pool:
        found = list(pool.map(lookup, outcome.candidates))
    chosen: list[rows_policy.Candidate] = []
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    routes: dict[str, int] = {}
    for candidate, tags in zip(outcome.candidates, found, strict=True):
        where = "gone" if tags is None else rows_policy.route(candidate, tags, policy)
        routes[where] = routes.get(where, 0) + 1
        if where in ("batch", "merge"):
            chosen.append(candidate)
            writer.writerow([bucket, quote(candidate.key, safe="/"), candidate.target, where,
                             json.dumps(tags, sort_keys=True) if where == "merge" else ""])
    fragment = None
    if chosen:
        first = items[0].get("Key") or items[0].get("key") or ""
        fragment = f"{WORK_PREFIX}/{bucket}/{context.run}/fragments/{_digest(str(first), str(len(items)))[:20]}.csv"
        s3.write_object(context.work_bucket, fragment, lines.getvalue().encode())
    return {"rows": outcome.rows, "groups": rows_policy.aggregate(chosen, costs), "skipped": outcome.skipped,
            "routes": routes, "fragment": fragment}


def _results(request: FinishRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(succeeded outputs, failed entries) from the Map's ResultWriter files."""
    from greenrail.adapters import s3

    details = request.map.ResultWriterDetails.model_dump() if request.map and request.map.ResultWriterDetails else None
    if not details:
        return [], []
    manifest = json.loads(s3.read_object(details["Bucket"], details["Key"]))
    succeeded: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for status, sink in (("SUCCEEDED", succeeded), ("FAILED", failed)):
        for entry in manifest.get("ResultFiles", {}).get(status, []):
            sink.extend(json.loads(s3.read_object(manifest.get("DestinationBucket", details["Bucket"]), entry["Key"])))
    outputs = []
    for entry in succeeded:
        output = json.loads(entry.get("Output") or "null")
        outputs.append(output.get("Payload", output) if isinstance(output, dict) else {})
    return outputs, failed


def finish(request: FinishRequest, policy: storage.StoragePolicy, blast_radius: Any, once: Once,
           publish: Publish) -> dict[str, Any]:
    """Aggregate the batches into decisions; in enforce mode, tag (Batch Operations and merges)."""
    bucket, run = request.bucket, request.run
    subject = {"bucket": bucket, "run": run, "inventory": True, "mode": policy.mode.value}

    def work() -> list[dict[str, Any]]:
        decisions = conclude(request, policy, blast_radius)
        return [decision.model_dump(mode="json") for decision in decisions]

    decisions = [Decision.model_validate(d) for d in once(subject, work)]

    def announce() -> dict[str, Any]:
        publish(decisions)
        return {"published": len(decisions)}

    once({**subject, "announce": True}, announce)
    return {"bucket": bucket, "run": run, "decisions": len(decisions),
            "objects": sum(int(d.figures.get("objects", 0)) for d in decisions if d.action == "batch-tag"),
            "errors": sum(1 for d in decisions if d.error)}


def conclude(request: FinishRequest, policy: storage.StoragePolicy, blast_radius: Any) -> list[Decision]:
    from greenrail.adapters import s3

    bucket, account, region, run = request.bucket, request.account, request.region, request.run
    prepared = request.prepared.model_dump() if request.prepared else {}
    try:
        outputs, failed = _results(request)
    except (ValueError, TypeError, KeyError, AttributeError, ClientError) as exc:
        if isinstance(exc, ClientError) and not is_permanent(exc):
            raise  # throttled: the state machine retries the step
        outputs, failed = [], []  # named by the failure decision
        prepared = {**prepared, "problems": [*prepared.get("problems", []),
                                             f"the batches' results could not be read back: {error_code(exc)}"]}
    groups = rows_policy.merge_groups([output.get("groups", []) for output in outputs])
    enforce = policy.mode == Mode.ENFORCE
    jobs: dict[str, str] = {}
    merged = {"tagged": 0, "held_back": 0, "errors": 0}
    manifests: dict[str, str] = {}
    held: dict[str, str] = {}  # target class -> why its objects without tags got no job
    if enforce and groups:
        with acting_in(account):  # the bucket's account (a member's: through its role)
            rules = storage.merge_lifecycle(s3.lifecycle_rules(bucket), policy)
            if rules is not None:  # the rule first: a tagged object always has its rule
                s3.put_lifecycle_rules(bucket, rules)
        jobs, manifests, held = _tag(request, outputs, policy, blast_radius, merged)
    base: dict[str, Any] = {"policy": storage.POLICY, "resource": f"arn:aws:s3:::{bucket}", "account": account, "region": region,
            "mode": policy.mode}
    decisions = []
    cap = policy.inventory.max_decisions_per_bucket
    kept, folded = rows_policy.cap_groups(groups, cap)  # jobs are per class: tagging is the same
    for group in kept + folded:
        target = group["target"]
        figures: dict[str, Any] = {
            "source": "s3-inventory", "inventory": f"s3://{request.manifest.Bucket}/{request.manifest.Key}",
            "prefix": group["prefix"], "objects": group["objects"], "size_bytes": group["bytes"],
            "from_classes": group["from_classes"], "run": run}
        if target in jobs:
            figures.update({"batch_job_id": jobs[target], "manifest": manifests[target],
                            "tagging": policy.inventory.tagging})
        where = f"s3://{bucket}/{group['prefix']}"
        if "prefixes" in group:  # the groups beyond the cap, folded per class
            figures.update({"prefixes": group["prefixes"], "max_decisions_per_bucket": cap})
            where = (f"{group['prefixes']:,} prefixes of s3://{bucket}/ (beyond the {cap:,} prefixes saving most, "
                     "folded into this decision)")
        if enforce and target in held:
            figures["batch_job_held_back"] = held[target]
        reason = _reason(f"{group['objects']:,} objects under {where}", target, policy, jobs, held)
        decisions.append(Decision(
            **base, action="batch-tag", target={"storage_class": target, "prefix": group["prefix"]},
            applied=enforce and target not in held and bool(target in jobs or merged["tagged"]),
            held_back=target in held, compliant=False, figures=figures,
            severity="LOW",
            reason=reason + f" (saves ${group['usd_per_month']:.4g}/month)",
            savings=Savings(usd_per_month=round(group["usd_per_month"], 6),
                            kgco2e_per_month=round(group["kgco2e_per_month"], 9)),
        ))
    if enforce and (merged["held_back"] or merged["errors"]):
        for decision in decisions:
            decision.figures.update({"merge_" + k: v for k, v in merged.items()})
    problem = _failure(request, prepared, failed, outputs)
    if problem is not None:
        decisions.append(Decision(**base, action="none", compliant=False, severity="MEDIUM", **problem))
    return decisions


def _reason(what: str, target: str, policy: storage.StoragePolicy, jobs: dict[str, str], held: dict[str, str]) -> str:
    """A batch-tag decision's reason: what is (or should be) tagged, and how."""
    tag = f"{policy.target_tag_key}={target}"
    merge = policy.inventory.tagging == "merge"
    if policy.mode != Mode.ENFORCE:
        return f"{what} should be tagged {tag}"
    if target in held:
        return (f"{what} to tag {tag}: no S3 Batch Operations job for {'them' if merge else 'those without tags'} "
                f"({held[target]}); they are tried again by the next sweep")
    if merge:
        how = f"S3 Batch Operations job {jobs.get(target)} (LambdaInvoke: each object's tags read when its task runs, all kept)"
    elif target in jobs:
        how = (f"S3 Batch Operations job {jobs[target]} (objects without tags) and one PutObjectTagging per object "
               "with tags, its tags kept")
    else:
        how = "one PutObjectTagging per object, its tags kept"
    return f"{what} tagged {tag}: {how}"


def _failure(request: FinishRequest, prepared: dict[str, Any], failed: list[dict[str, Any]],
             outputs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One decision for everything this inventory could not sweep (or None)."""
    parts: list[str] = []
    figures: dict[str, Any] = {"run": request.run}
    if prepared.get("problems"):
        parts.append("inventory not swept: " + "; ".join(prepared["problems"]))
        figures["problems"] = prepared["problems"]
    if prepared.get("gone"):
        parts.append(f"{len(prepared['gone'])} inventory file(s) listed in the manifest are gone")
        figures["files_gone"] = prepared["gone"][:20]
    if prepared.get("unreadable"):
        parts.append(f"{len(prepared['unreadable'])} inventory file(s) listed in the manifest are not "
                     "gzip (CSV) or Parquet: left out")
        figures["files_unreadable"] = prepared["unreadable"][:20]
    if failed:
        rows = sum(len(json.loads(entry.get("Input") or "{}").get("Items", [])) for entry in failed)
        parts.append(f"{len(failed)} of {len(failed) + len(outputs)} batches failed ({rows:,} rows)")
        figures.update({"batches_failed": len(failed), "rows_not_decided": rows,
                        "first_error": {"error": failed[0].get("Error"), "cause": str(failed[0].get("Cause", ""))[:300]}})
    error = request.map_error.model_dump() if request.map_error else {}
    if error:
        parts.append(f"the Distributed Map failed: {error.get('Error')}")
        figures["map_error"] = {"error": error.get("Error"), "cause": str(error.get("Cause", ""))[:300]}
    if not parts:
        return None
    code = "InventoryUnreadable" if error or prepared.get("problems") else "InventoryIncomplete"
    return {"reason": "; ".join(parts) + "; the objects not decided are swept again with the next inventory",
            "figures": figures, "error": code}


def _tag(request: FinishRequest, outputs: list[dict[str, Any]], policy: storage.StoragePolicy, blast_radius: Any,
         merged: dict[str, int]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Tag in enforce mode. ``tagging: merge``: one Batch Operations ``LambdaInvoke`` job per class
    over every chosen object (the tag-merge function reads each object's tags when its task runs
    and keeps them all: ``greenrail.flows.tag_merge``). ``tagging: replace``: an
    ``S3PutObjectTagging`` job per class for the objects found without tags (a tag added since
    is lost: the job replaces the tag set), one PutObjectTagging per object with tags (merged,
    bounded). Returns (jobs, manifests, why no job) by class."""
    from greenrail.adapters import s3
    from greenrail.settings import settings

    bucket, account, run, work_bucket = request.bucket, request.account, request.run, request.work_bucket
    merge = policy.inventory.tagging == "merge"
    untagged: dict[str, list[tuple[str, str]]] = {}  # merge: every chosen object
    for output in outputs:
        if not output.get("fragment"):
            continue
        text = s3.read_object(work_bucket, output["fragment"]).decode()
        for object_bucket, key, target, where, _read_tags in csv.reader(io.StringIO(text)):
            if merge or where == "batch":
                untagged.setdefault(target, []).append((object_bucket, unquote(key)))
            else:
                with acting_in(account):
                    _merge_one(bucket, unquote(key), target, policy, blast_radius, merged)
    jobs, manifests, held = {}, {}, {}
    role = storage.batch_role(account, policy)
    function = settings().storage_tag_merge_arn
    for target, objects in sorted(untagged.items()):
        if not role:
            held[target] = ("storage.sweep.batch_operations_role_arn is not set" if account == acting_account() else
                            "no Batch Operations role in member accounts (the MemberBatchOperationsRoleName parameter)")
            continue
        if merge and not function:
            held[target] = "the tag-merge function is not deployed (GREENRAIL_STORAGE_TAG_MERGE_ARN)"
            continue
        if not blast_radius.acquire(f"{bucket}#{run}#{target}#batch"):
            held[target] = "the blast radius for this hour is reached"
            continue
        folder = storage.batch_folder(account, bucket, run)  # what the account's Batch Operations role may read and write
        key = f"{folder}/{'merge' if merge else 'batch'}-{target.lower()}.csv"
        etag = s3.write_manifest(work_bucket, key, sorted(objects))
        reports, token = f"{folder}/reports", _digest(bucket, run, target, policy.inventory.tagging)[:64]
        # the job runs in the bucket's account, as its Batch Operations role
        jobs[target] = storage.create_batch_job(account, work_bucket, key, etag, policy.target_tag_key, target, role,
                                                reports, token, function if merge else None,
                                                confirm=policy.inventory.confirm_batch_jobs)
        manifests[target] = f"s3://{work_bucket}/{key}"
    return jobs, manifests, held


def _merge_one(bucket: str, key: str, target: str, policy: storage.StoragePolicy, blast_radius: Any,
               merged: dict[str, int]) -> None:
    """tagging: replace: one object read with tags, tagged on its own (bounded), its tags read again now."""
    from greenrail.adapters import s3

    if merged["tagged"] >= policy.inventory.max_merges_per_sweep or not blast_radius.acquire(f"{bucket}/{key}#{target}"):
        merged["held_back"] += 1
        return
    try:  # its tags read again now (they may have changed since the batch read them), all kept
        current = s3.object_tags(bucket, key)
        if rows_policy.route(rows_policy.Candidate(key, 0, "", target, ""), current, policy) in ("already", "exempt"):
            return
        s3.put_object_tag(bucket, key, policy.target_tag_key, target, current)
        merged["tagged"] += 1
    except Exception as exc:
        if not is_permanent(exc) and not isinstance(exc, ValueError):
            raise
        merged["errors"] += 1
