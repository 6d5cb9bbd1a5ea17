"""The training policy, around the job: warm pools, managed spot, data locality.

Part of the ``training`` policy (no ``DEFINITION`` of its own): ``training.evaluate`` and
``training.scan`` call :func:`advise` on every decision that found nothing to stop.

* **release-warm-pool** — a finished job whose ``WarmPoolStatus.Status`` is ``Available`` (its
  instances kept warm, not reused) for longer than ``max_warm_pool_minutes`` since it ended. In
  enforce mode ``UpdateTrainingJob`` with ``ResourceConfig.KeepAlivePeriodInSeconds: 0`` releases
  them. Savings: the rest of the keep-alive period on the job's instances (one-off).
* **recommend-spot** — a running job without managed spot training that has checkpointing
  configured (``CheckpointConfig.S3Uri``: it can resume after an interruption) and has run longer
  than ``spot.min_runtime_minutes``. Savings: the remaining projected cost x
  ``spot.expected_discount``, flagged estimated (spot prices vary).
* **recommend-colocate** — a running job reading an S3 input channel from a bucket in another
  region. The bytes read are the channel prefix's size (ListObjectsV2, at most
  ``data_locality.max_listed_objects`` objects: a larger prefix is flagged "at least"); the cost
  is bytes x :data:`INTER_REGION_USD_PER_GB`.

One decision per job: the first that applies in that order; ``figures.recommendations`` lists
them all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from greenrail.adapters import s3, sagemaker
from greenrail.aws import ACCESS_DENIED_CODES, error_code
from greenrail.decision import Decision, Mode, Savings
from greenrail.pricing import InstancePrice
from greenrail.sagemaker_facts import TERMINAL_STATUSES

logger = logging.getLogger(__name__)

# Inter-region data transfer, USD per GB: "Data Transfer OUT From Amazon EC2 To ... another AWS
# Region", $0.02/GB from the US regions (Amazon EC2 On-Demand pricing, Data Transfer section,
# https://aws.amazon.com/ec2/pricing/on-demand/; S3's own pricing page lists the same rate for
# S3 to another region). Some source regions charge more: the figure is a floor.
INTER_REGION_USD_PER_GB: Final = 0.02
INTER_REGION_SOURCE: Final = "Amazon EC2 On-Demand pricing, data transfer to another AWS Region ($0.02/GB, US regions)"
GB: Final = 1_000_000_000


class InputLocation(BaseModel):
    """One S3 input channel: where its bucket lives and, when it is elsewhere, how much it holds."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    uri: str
    bucket: str
    bucket_region: str | None = None
    bytes: int | None = None
    objects: int | None = None
    truncated: bool = False
    error: str | None = None


def split_s3_uri(uri: str) -> tuple[str, str] | None:
    if not uri.startswith("s3://"):
        return None
    bucket, _, prefix = uri[5:].partition("/")
    return (bucket, prefix) if bucket else None


def locate_inputs(uris: list[str], job_region: str, max_objects: int,
                  regions: dict[str, str | None] | None = None) -> list[InputLocation]:
    """GetBucketLocation for each input bucket (``regions`` caches it across jobs); the prefix
    size only for a bucket in another region. A denied call leaves the figure unknown."""
    regions = {} if regions is None else regions
    found = []
    for uri in uris:
        split = split_s3_uri(uri)
        if split is None:
            continue
        bucket, prefix = split
        location = InputLocation(uri=uri, bucket=bucket)
        try:
            if bucket not in regions:
                regions[bucket] = s3.bucket_region(bucket)
            location.bucket_region = regions[bucket]
            if location.bucket_region and location.bucket_region != job_region:
                location.bytes, location.objects, location.truncated = s3.prefix_size(bucket, prefix, max_objects)
        except Exception as exc:
            code = error_code(exc)
            if code is None:
                raise
            regions.setdefault(bucket, None)
            location.error = code
        found.append(location)
    return found


def _warm_pool(job: Any, policy: Any, now: datetime, price: InstancePrice | None) -> tuple[str, dict[str, Any], float] | None:
    if job.status not in TERMINAL_STATUSES or job.warm_pool_status != "Available" or job.end_time is None:
        return None
    available = (_utc(now) - _utc(job.end_time)).total_seconds()
    if available <= policy.max_warm_pool_minutes * 60:
        return None
    remaining_hours = max(0.0, job.keep_alive_seconds - available) / 3600
    usd = remaining_hours * job.instance_count * price.usd_per_hour if price else 0.0
    figures = {"warm_pool_available_minutes": round(available / 60, 2), "keep_alive_seconds": job.keep_alive_seconds,
               "max_warm_pool_minutes": policy.max_warm_pool_minutes, "released_hours": round(remaining_hours, 4)}
    reason = (f"WarmPoolLingering: warm pool Available for {available / 60:.1f} min (kept warm, not reused), "
              f"over the {policy.max_warm_pool_minutes} min maximum")
    return reason, figures, usd


def _spot(job: Any, policy: Any, price: InstancePrice | None) -> tuple[str, dict[str, Any], float] | None:
    rule = policy.spot
    if job.status != "InProgress" or job.spot or not job.checkpointing:
        return None
    if job.elapsed_seconds <= rule.min_runtime_minutes * 60:
        return None
    remaining_hours = max(0.0, job.max_runtime_seconds - job.elapsed_seconds) / 3600
    usd = remaining_hours * job.instance_count * price.usd_per_hour * rule.expected_discount if price else 0.0
    figures = {"expected_spot_discount": rule.expected_discount, "spot_savings_estimated": True,
               "spot_basis_hours": round(remaining_hours, 4)}
    reason = (f"SpotCandidate: checkpointing configured, on-demand for {job.elapsed_seconds / 60:.0f} min "
              f"(over {rule.min_runtime_minutes} min): managed spot training at an assumed "
              f"{rule.expected_discount:.0%} discount (estimated)")
    return reason, figures, usd


def _colocate(job: Any, locations: list[InputLocation]) -> tuple[str, dict[str, Any], float] | None:
    remote = [loc for loc in locations if loc.bucket_region and loc.bucket_region != job.region]
    if not remote:
        return None
    total = sum(loc.bytes or 0 for loc in remote)
    at_least = any(loc.truncated or loc.bytes is None for loc in remote)
    usd = total / GB * INTER_REGION_USD_PER_GB
    figures = {
        "remote_inputs": [loc.model_dump(exclude_none=True) for loc in remote],
        "bytes_read": total, "bytes_read_at_least": at_least,
        "transfer_usd_per_gb": INTER_REGION_USD_PER_GB, "transfer_price_source": INTER_REGION_SOURCE,
    }
    regions = ", ".join(sorted({str(loc.bucket_region) for loc in remote}))
    reason = (f"RemoteTrainingData: input read from {regions} by a job in {job.region}: "
              f"{'at least ' if at_least else ''}{_size(total)} across regions, ${usd:.2f} transfer per run "
              f"at ${INTER_REGION_USD_PER_GB}/GB")
    return reason, figures, usd


def _size(size: int) -> str:
    return f"{size / GB:.2f} GB" if size >= GB / 10 else f"{size / 1_000_000:.2f} MB"


def advise(decision: Decision, job: Any, policy: Any, now: datetime, price: InstancePrice | None,
           locations: list[InputLocation] | None = None) -> Decision:
    """The warm-pool, spot and locality rules, on a decision that found nothing to stop."""
    if decision.action != "none" or decision.mode is Mode.OFF or decision.figures.get("exempt"):
        return decision
    if job.kind != "training" or policy.exemptions.exempts(job.name, job.tags):
        return decision
    found: list[tuple[str, tuple[str, dict[str, Any], float]]] = []
    for action, outcome in (("release-warm-pool", _warm_pool(job, policy, now, price)),
                            ("recommend-spot", _spot(job, policy, price)),
                            ("recommend-colocate", _colocate(job, locations or [])
                             if policy.data_locality.enabled else None)):
        if outcome is not None:
            found.append((action, outcome))
    if not found:
        return decision
    action, (reason, figures, usd) = found[0]
    merged = {**decision.figures, **{k: v for _, (_, f, _) in found for k, v in f.items()},
              "recommendations": [a for a, _ in found], "savings_basis": _basis(action)}
    if price is None:
        merged["price_error"] = f"no price for {job.instance_type}: USD savings unknown"
    return decision.model_copy(update={
        "action": action, "compliant": False, "reason": "; ".join(r for _, (r, _, _) in found),
        "figures": merged, "savings": Savings(usd_per_month=round(usd, 2)),
        "severity": "MEDIUM" if action == "release-warm-pool" else "LOW",
        "target": {"KeepAlivePeriodInSeconds": 0} if action == "release-warm-pool" else {},
    })


def _basis(action: str) -> str:
    return {
        "release-warm-pool": "one-off: the rest of the keep-alive period on the retained instances",
        "recommend-spot": "one-off, estimated: the remaining projected runtime at the expected spot discount",
        "recommend-colocate": "per run: the input's bytes at the inter-region transfer rate",
    }[action]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def release(job_name: str) -> str | None:
    """UpdateTrainingJob KeepAlivePeriodInSeconds 0; the outcome for ``training.apply``: None when
    released, else why not (``NotFound``, ``NotAvailable`` or the AWS error code)."""
    try:
        sagemaker.release_warm_pool(job_name)
    except sagemaker.TrainingJobNotFound:
        return "NotFound"
    except sagemaker.TrainingJobNotStoppable:
        return "NotAvailable"
    except Exception as exc:
        code = error_code(exc)
        if code not in ACCESS_DENIED_CODES:
            raise
        logger.warning("UpdateTrainingJob %s denied: %s", job_name, exc)
        return str(code)
    return None
