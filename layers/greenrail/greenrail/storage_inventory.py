"""The storage policy on S3 Inventory rows: pure, fast, no AWS call.

A Distributed Map reads a bucket's newest inventory (``ItemReader``, ``InputType: MANIFEST``)
and hands the decide function batches of rows (``ItemBatcher``), each row a dict named by the
inventory's ``fileSchema`` (``Bucket``, ``Key``, ``Size``, ``StorageClass``, ``ETag``,
``LastModifiedDate``...; CSV values are strings and CSV keys URL-encoded, Parquet values typed).
:func:`decide_rows` applies the storage policy's object rules that need no object tags (size,
class, key exemptions, what Lifecycle can do, whether it saves money) and names the candidates;
:func:`aggregate` turns the objects to tag into one group per target class x key prefix with
counts, bytes and savings. Tags are looked up for candidates only (S3 Inventory lists none).

:func:`merged_tags` is the rule that keeps an object's tags: S3 Batch Operations'
``S3PutObjectTagging`` replaces an object's whole tag set, so only objects found without any
tag go into a Batch Operations job; the others get one PutObjectTagging with their own tags
plus Greenrail's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from greenrail.policies.storage import GB, LIFECYCLE_TRANSITIONS, StoragePolicy, classify

REQUIRED_FIELDS = ("Bucket", "Key", "Size")
RECOMMENDED_FIELDS = ("Size", "StorageClass", "ETag", "LastModifiedDate")
MAX_OBJECT_TAGS = 10
# (key, size, storage class, ETag, is-latest, is-delete-marker) as CSV and as Parquet inventories name them
CSV_NAMES = ("Key", "Size", "StorageClass", "ETag", "IsLatest", "IsDeleteMarker")
PARQUET_NAMES = ("key", "size", "storage_class", "e_tag", "is_latest", "is_delete_marker")


class Candidate(NamedTuple):
    """An object the rules that need no tags would tag (its tags still to be looked up)."""

    key: str
    size: int
    storage_class: str
    target: str
    prefix: str
    etag: str = ""


@dataclass
class RowOutcome:
    """What one batch of rows came to."""

    rows: int = 0
    candidates: list[Candidate] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> objects

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass(frozen=True)
class Prices:
    """Per (current, target) class: USD per GB-month saved, the fee per object-month, and the
    smallest size that saves money (``size_gb * delta > fee``)."""

    delta_usd_per_gb: dict[tuple[str, str], float]
    fee_per_object: dict[str, float]
    kg_delta_per_gb: dict[tuple[str, str], float]

    def breakeven_bytes(self, current: str, target: str) -> float:
        delta = self.delta_usd_per_gb.get((current, target), 0.0)
        if delta <= 0:
            return float("inf")
        return self.fee_per_object.get(target, 0.0) / delta * GB


def prices_for(region: str) -> Prices:
    """The savings figures the storage policy uses (``monthly_savings``), per GB, for every pair."""
    from greenrail.policies.storage import monthly_savings

    delta: dict[tuple[str, str], float] = {}
    kg: dict[tuple[str, str], float] = {}
    fee: dict[str, float] = {}
    targets = {rule.storage_class for rule in StoragePolicy().rules} | {"INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA"}
    for current, reachable in LIFECYCLE_TRANSITIONS.items():
        for target in reachable & targets:  # the classes a policy can name
            one_gb, figures = monthly_savings(GB, current, target, region)
            fee[target] = float(figures["monitoring_fee_usd_month"])
            delta[(current, target)] = one_gb.usd_per_month + fee[target]
            kg[(current, target)] = one_gb.kgco2e_per_month
    return Prices(delta, fee, kg)


def key_prefix(key: str, depth: int) -> str:
    """The first ``depth`` directory levels of a key (``a/b/`` for ``a/b/c/d.bin`` at depth 2)."""
    if depth <= 0:
        return ""
    parts = key.split("/", depth)
    directories = parts[:-1] if len(parts) <= depth else parts[:depth]
    return "".join(part + "/" for part in directories)


def decide_rows(rows: list[dict[str, Any]], policy: StoragePolicy, prices: Prices, url_encoded: bool = True,
                classes: dict[str, tuple[str, str]] | None = None) -> RowOutcome:
    """The candidates among inventory rows (no AWS call). ``classes``: a cache of directory ->
    (target class, prefix) shared across batches of one invocation (keys share directories)."""
    outcome = RowOutcome(rows=len(rows))
    cache = classes if classes is not None else {}
    minimum = policy.min_object_size_bytes
    depth = policy.inventory.prefix_depth
    patterns = policy.exemptions.name_patterns
    exempts = policy.exemptions.exempts
    breakeven: dict[tuple[str, str], float] = {}
    skipped = outcome.skipped
    candidates = outcome.candidates
    # CSV rows are named by the manifest's fileSchema (Key, Size...), Parquet rows by its columns (key, size...)
    names = PARQUET_NAMES if rows and "key" in rows[0] else CSV_NAMES
    f_key, f_size, f_class, f_etag, f_latest, f_marker = names
    url_encoded = url_encoded and names is CSV_NAMES
    for row in rows:
        size = int(row.get(f_size) or 0)
        if size < minimum:
            skipped["under the minimum size"] = skipped.get("under the minimum size", 0) + 1
            continue
        if row.get(f_marker) in ("true", True) or row.get(f_latest) in ("false", False):
            skipped["not the current version"] = skipped.get("not the current version", 0) + 1
            continue
        key = row[f_key]
        encoded = url_encoded and ("%" in key or "+" in key)
        if encoded and ("%2F" in key or "%2f" in key):  # an encoded slash: decode it all now
            key, encoded = unquote_plus(key), False
        # the directory decides the class and the prefix: decoded once per directory, not per key
        slash = key.rfind("/") + 1
        found = cache.get(key[:slash])
        if found is None:
            plain = unquote_plus(key[:slash]) if encoded else key[:slash]
            found = cache[key[:slash]] = (classify(plain + "x", policy)[1], key_prefix(plain + "x", depth))
        target = found[0]
        current = row.get(f_class) or "STANDARD"
        if current == target:
            skipped["already in its class"] = skipped.get("already in its class", 0) + 1
            continue
        if target not in LIFECYCLE_TRANSITIONS.get(current, ()):
            skipped["Lifecycle cannot move it"] = skipped.get("Lifecycle cannot move it", 0) + 1
            continue
        limit = breakeven.get((current, target))
        if limit is None:
            limit = breakeven[(current, target)] = prices.breakeven_bytes(current, target)
        if size <= limit:
            skipped["would not save money"] = skipped.get("would not save money", 0) + 1
            continue
        if encoded:  # only the candidates' keys are decoded
            key = unquote_plus(key)
        if patterns and exempts(key, {}):
            skipped["exempt"] = skipped.get("exempt", 0) + 1
            continue
        candidates.append(Candidate(key, size, current, target, found[1], str(row.get(f_etag) or "").strip('"')))
    return outcome


def aggregate(candidates: list[Candidate], prices: Prices) -> list[dict[str, Any]]:
    """One group per target class x prefix x current class: objects, bytes, USD and kgCO2e a month."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for candidate in candidates:
        slot = groups.get((candidate.target, candidate.prefix, candidate.storage_class))
        if slot is None:
            slot = groups[(candidate.target, candidate.prefix, candidate.storage_class)] = [0, 0]
        slot[0] += 1
        slot[1] += candidate.size
    out = []
    for (target, prefix, current), (objects, size) in sorted(groups.items()):
        gb = size / GB
        usd = gb * prices.delta_usd_per_gb.get((current, target), 0.0) - objects * prices.fee_per_object.get(target, 0.0)
        kg = gb * prices.kg_delta_per_gb.get((current, target), 0.0)
        out.append({"target": target, "prefix": prefix, "current": current, "objects": objects,
                    "bytes": size, "usd_per_month": round(usd, 9), "kgco2e_per_month": round(kg, 12)})
    return out


def merge_groups(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Groups of many batches summed per target class x prefix (current classes folded in)."""
    total: dict[tuple[str, str], dict[str, Any]] = {}
    for groups in parts:
        for group in groups:
            slot = total.setdefault((group["target"], group["prefix"]), {
                "target": group["target"], "prefix": group["prefix"], "objects": 0, "bytes": 0,
                "usd_per_month": 0.0, "kgco2e_per_month": 0.0, "from_classes": {}})
            slot["objects"] += group["objects"]
            slot["bytes"] += group["bytes"]
            slot["usd_per_month"] += group["usd_per_month"]
            slot["kgco2e_per_month"] += group["kgco2e_per_month"]
            slot["from_classes"][group["current"]] = slot["from_classes"].get(group["current"], 0) + group["objects"]
    return [total[k] for k in sorted(total)]


def cap_groups(groups: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the ``limit`` groups saving most, one group per target class folding the others in).

    A folded group's ``prefix`` is ``*`` and ``prefixes`` counts the groups it holds; its objects,
    bytes, savings and current classes are their sums. Nothing is lost: the totals are the same."""
    if len(groups) <= limit:
        return groups, []
    ranked = sorted(groups, key=lambda g: (-g["usd_per_month"], g["target"], g["prefix"]))
    folded: dict[str, dict[str, Any]] = {}
    for group in ranked[limit:]:
        slot = folded.setdefault(group["target"], {
            "target": group["target"], "prefix": "*", "prefixes": 0, "objects": 0, "bytes": 0,
            "usd_per_month": 0.0, "kgco2e_per_month": 0.0, "from_classes": {}})
        slot["prefixes"] += 1
        for name in ("objects", "bytes", "usd_per_month", "kgco2e_per_month"):
            slot[name] += group[name]
        for current, objects in group["from_classes"].items():
            slot["from_classes"][current] = slot["from_classes"].get(current, 0) + objects
    kept = sorted(ranked[:limit], key=lambda g: (g["target"], g["prefix"]))
    return kept, [folded[target] for target in sorted(folded)]


def merged_tags(existing: dict[str, str], tag_key: str, tag_value: str) -> dict[str, str]:
    """An object's tag set with Greenrail's tag added: every existing tag kept (raises when S3's
    ten-tag limit leaves no room)."""
    tags = dict(existing)
    tags[tag_key] = tag_value
    if len(tags) > MAX_OBJECT_TAGS:
        raise ValueError(f"the object already has {len(existing)} tags; S3 allows {MAX_OBJECT_TAGS}")
    return tags


def route(candidate: Candidate, tags: dict[str, str], policy: StoragePolicy) -> str:
    """Where a candidate goes once its tags are known: ``batch`` (no tags at all: a Batch
    Operations job cannot lose any), ``merge`` (has tags: one PutObjectTagging keeping them),
    ``already`` (tagged for its class), ``exempt``, or ``full`` (ten tags, no room)."""
    if policy.exemptions.exempts(candidate.key, tags):
        return "exempt"
    if tags.get(policy.target_tag_key) == candidate.target:
        return "already"
    if not tags:
        return "batch"
    if policy.target_tag_key not in tags and len(tags) >= MAX_OBJECT_TAGS:
        return "full"
    return "merge"


def needs_inventory(listed_objects: int, policy: StoragePolicy) -> bool:
    """A bucket without inventory is listed up to the threshold; above it, an inventory is recommended."""
    return listed_objects > policy.inventory.listing_threshold


def inventory_usable(configuration: dict[str, Any]) -> bool:
    """An inventory configuration the sweep can read: enabled, CSV or Parquet, current versions
    or all, with at least the size field (storage class, ETag and last-modified recommended)."""
    if not configuration.get("IsEnabled"):
        return False
    destination = (configuration.get("Destination") or {}).get("S3BucketDestination") or {}
    if destination.get("Format") not in ("CSV", "Parquet"):
        return False
    return "Size" in (configuration.get("OptionalFields") or [])


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """Why an inventory manifest.json cannot be swept (empty: it can)."""
    problems = []
    if str(manifest.get("fileFormat", "")).upper() not in ("CSV", "PARQUET"):
        problems.append(f"format {manifest.get('fileFormat')!r} (CSV or Parquet only)")
    schema = str(manifest.get("fileSchema", ""))
    if str(manifest.get("fileFormat", "")).upper() == "PARQUET":  # "message s3.inventory { required binary key; ...}"
        words = set(schema.replace(";", " ").replace("(", " ").split())
        missing = [name for name in REQUIRED_FIELDS if name.lower() not in words]
    else:
        columns = {c.strip() for c in schema.split(",")}
        missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        problems.append(f"no {', '.join(missing)} field")
    if not isinstance(manifest.get("files"), list):
        problems.append("no files")
    return problems
