"""The carbon policy: put a finished training job's carbon record on its SageMaker Model Card.

The whole rule, in order:

1. Only terminal jobs (Completed, Stopped, Failed) have a record; exempt jobs and ``mode: off`` get none.
2. Hours = BillableTimeInSeconds (wall-clock time instances were billed, per instance; excludes the
   time a Spot job waited for capacity), else TrainingTimeInSeconds, else end - start; / 3600.
3. Utilization is the job's measured average (CloudWatch ``/aws/sagemaker/TrainingJobs``, per host
   ``<job>/algo-<n>``; CPUUtilization is a sum over cores, up to 100 x vCPUs, GPUUtilization up to
   100 x GPUs, so both are normalised to 0..1). A missing metric falls back to
   ``carbon.default_utilization`` and the record is flagged estimated.
4. The record comes from the one carbon model, ``greenrail.carbon.estimate``.
5. The card is the one the job's ``carbon.model_card_tag_key`` tag names, else a Draft card
   ``greenrail-<job>`` that Greenrail creates (``carbon.create_draft_cards``, tagged
   ``greenrail:managed=true`` and ``greenrail:training-job=<job>``).
6. An existing card is written only when it is a Draft (PendingReview, Approved and Archived are
   a reviewer's) and it belongs to the job: Greenrail created it for the job (its two tags), or
   the SageMaker model or model package its ``model_overview.model_id`` / ``model_name`` names was
   made from the job's output (a container's ModelDataUrl is the job's S3ModelArtifacts). A tag
   alone cannot send the record to someone else's card.
7. A new card version carries the record in ``additional_information.custom_details`` and in a
   ``Sustainability`` metric group of the ``evaluation_details`` entry named after the job; every
   other part of the content is kept. A card that is refused, or whose content is not a JSON
   object or would exceed the service's 100,000 characters, is left untouched and the decision
   says why. In dry-run the decision is published and nothing is written.

The record also carries Hugging Face's ``co2_eq_emissions`` keys (``co2_eq_emissions.emissions`` in
grams, ``.source``, ``.training_type``, ``.geographical_location``, ``.hardware_used``; custom_details
is a map of strings, so each is a string) and the same job in the lowest-carbon regions that offer its
instance type (``greenrail_carbon_greener_regions``), restricted to ``carbon.preflight.residency``.

Pre-flight (a training job entering InProgress, once per job): an ``estimate-carbon`` decision with
the job's upper bound, ``MaxRuntimeInSeconds`` on all its instances at the policy's assumed
utilization (flagged estimated), in kWh and kgCO2e, and the same job in the lowest-carbon regions
that offer its instance type (``greenrail.carbon.compare_regions``). Nothing is changed.

The decisions are informational, not compliance verdicts (compliant False with severity
INFORMATIONAL: the auditor records them without a Compliance status), with no savings.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenrail import arn as arns
from greenrail import carbon
from greenrail.adapters import model_cards as cards_adapter
from greenrail.aws import error_code
from greenrail.config import BlastRadiusCap, Exemptions, Strict
from greenrail.decision import Decision, Mode
from greenrail.protocol import PolicyDefinition, Rule, Trigger
from greenrail.sagemaker_facts import (
    DEFAULT_MAX_RUNTIME_SECONDS,
    TERMINAL_STATUSES,
    TRAINING_NAMESPACE,
    host_dimension,
)
from greenrail.state import BlastRadius
from greenrail.units import plain

POLICY: Final = "carbon"


class PreflightPolicy(Strict):
    """``carbon.preflight``: the estimate published when a training job starts."""

    enabled: bool = True
    residency: Literal["EU", "US", "APAC"] | None = None  # compare only within this group
    regions_shown: int = Field(default=3, ge=1, le=40)
    offered_regions: dict[str, list[str]] = Field(default_factory=dict)  # family -> regions offering it


class CarbonPolicy(Strict):
    """The policy document's ``carbon:`` section."""

    mode: Mode = Mode.DRY_RUN
    preflight: PreflightPolicy = Field(default_factory=PreflightPolicy)
    model_card_tag_key: str = "greenrail:model-card"
    create_draft_cards: bool = True
    default_utilization: float = Field(default=0.5, ge=0, le=1)
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadiusCap = Field(default_factory=lambda: BlastRadiusCap(max_actions_per_hour=1_000))


ACTION: Final = "publish-carbon-record"
PREFLIGHT_ACTION: Final = "estimate-carbon"
HF_PREFIX = "co2_eq_emissions."  # Hugging Face model card metadata, one key per field
SEVERITY = "INFORMATIONAL"
METRIC_GROUP = "Sustainability"
DRAFT_PREFIX = "greenrail-"
CUSTOM_PREFIX = "greenrail_carbon_"
MAX_DATAPOINTS_PER_HOST = 1440
MANAGED_TAG = "greenrail:managed"  # on the Draft cards Greenrail creates, with JOB_TAG
JOB_TAG = "greenrail:training-job"
TRAINING_TYPE_TAG = "greenrail:training-type"  # e.g. pre-training, fine-tuning (Hugging Face's training_type)


class CardStore(Protocol):
    """The Model Card port: greenrail.adapters.model_cards, or tests.fakes.InMemoryCards in unit tests."""

    def describe(self, name: str) -> cards_adapter.ModelCard | None: ...

    def card_tags(self, arn: str) -> dict[str, str]: ...

    def model_data_urls(self, name: str) -> list[str]: ...

    def model_package_data_urls(self, name_or_arn: str) -> list[str]: ...

    def create_draft(self, name: str, content: str, tags: dict[str, str] | None = None) -> str: ...

    def update_content(self, name: str, content: str) -> str: ...


class _SageMakerCards:
    def describe(self, name: str) -> cards_adapter.ModelCard | None:
        return cards_adapter.describe(name)

    def card_tags(self, arn: str) -> dict[str, str]:
        return cards_adapter.card_tags(arn)

    def model_data_urls(self, name: str) -> list[str]:
        return cards_adapter.model_data_urls(name)

    def model_package_data_urls(self, name_or_arn: str) -> list[str]:
        return cards_adapter.model_package_data_urls(name_or_arn)

    def create_draft(self, name: str, content: str, tags: dict[str, str] | None = None) -> str:
        return cards_adapter.create_draft(name, content, tags)

    def update_content(self, name: str, content: str) -> str:
        return cards_adapter.update_content(name, content)


class Utilization(BaseModel):
    """Measured average utilization, fractions 0..1; None where the metric was missing."""

    model_config = ConfigDict(defer_build=True)

    cpu: float | None = None
    gpu: float | None = None


class CardContentError(ValueError):
    """Card content Greenrail cannot safely extend (not JSON, wrong shape, too long)."""


# --- reading the job -----------------------------------------------------------------------------


def job_hours(job: dict[str, Any]) -> float:
    for key in ("BillableTimeInSeconds", "TrainingTimeInSeconds"):
        seconds = job.get(key)
        if isinstance(seconds, int | float) and seconds > 0:
            return float(seconds) / 3600
    start, end = job.get("TrainingStartTime"), job.get("TrainingEndTime")
    if isinstance(start, datetime) and isinstance(end, datetime) and end > start:
        return (end - start).total_seconds() / 3600
    return 0.0


def instance_groups(job: dict[str, Any]) -> list[tuple[str, int]]:
    """(instance type, count) per group: ResourceConfig's single type, or its InstanceGroups."""
    config = job.get("ResourceConfig") or {}
    groups = config.get("InstanceGroups") or []
    if groups:
        return [(g["InstanceType"], int(g.get("InstanceCount", 1))) for g in groups]
    if config.get("InstanceType"):
        return [(config["InstanceType"], int(config.get("InstanceCount", 1)))]
    return []


def metric_period_seconds(start: datetime, end: datetime, now: datetime | None = None) -> int:
    """The GetMetricData period for a job's whole run: at most MAX_DATAPOINTS_PER_HOST points per
    host, and a period CloudWatch accepts for data that old — a multiple of 60 s, of 300 s once the
    start is more than 15 days back, of 3600 s once it is more than 63 days back (otherwise
    GetMetricData returns no datapoints)."""
    now = now or datetime.now(UTC)
    minutes = max(1, math.ceil((end - start).total_seconds() / 60))
    period = 60 * max(1, math.ceil(minutes / MAX_DATAPOINTS_PER_HOST))
    age = (now - (start if start.tzinfo else start.replace(tzinfo=UTC))).total_seconds()
    if age > 63 * 86_400:
        step = 3600
    elif age > 15 * 86_400:
        step = 300
    else:
        step = 60
    return step * math.ceil(period / step)


def measure_utilization(job: dict[str, Any]) -> Utilization:
    """Average CPU and GPU utilization over the job's hosts, normalised to 0..1 (None when missing)."""
    from greenrail.adapters import cloudwatch

    groups = instance_groups(job)
    start, end = job.get("TrainingStartTime"), job.get("TrainingEndTime")
    if len(groups) != 1 or not isinstance(start, datetime) or not isinstance(end, datetime):
        return Utilization()  # heterogeneous clusters name hosts per group: not measured, falls back
    if (end - start).total_seconds() < 60:  # no datapoint yet (the metrics are per minute), and
        return Utilization()  # CloudWatch refuses a StartTime equal to EndTime at its second resolution
    instance_type, count = groups[0]
    try:
        spec = carbon.instance_spec(instance_type)
    except carbon.UnknownInstanceType:
        return Utilization()
    metrics = [("cpu", "CPUUtilization", spec.vcpus)]
    if spec.gpu_count:
        metrics.append(("gpu", "GPUUtilization", spec.gpu_count))
    queries = [
        cloudwatch.MetricQuery(id=f"{key}{host}", namespace=TRAINING_NAMESPACE, metric=metric, stat="Average",
                               dimensions={"Host": host_dimension(job["TrainingJobName"], host)})
        for key, metric, _ in metrics
        for host in range(1, count + 1)
    ]
    series = cloudwatch.get_metric_series(queries, start, end, metric_period_seconds(start, end))
    values: dict[str, list[float]] = {key: [] for key, _, _ in metrics}
    for query_id, found in series.items():
        values[query_id.rstrip("0123456789")].extend(found.values)
    scale = {key: 100.0 * units for key, _, units in metrics}
    averages = {
        key: min(1.0, max(0.0, sum(found) / len(found) / scale[key])) if found else None
        for key, found in values.items()
    }
    return Utilization(cpu=averages.get("cpu"), gpu=averages.get("gpu"))


# --- the record ----------------------------------------------------------------------------------


def _estimate(job: dict[str, Any], hours: float, region: str, used: Utilization) -> carbon.CarbonEstimate:
    groups = instance_groups(job)
    if not groups:
        raise carbon.UnknownInstanceType("the training job has no ResourceConfig.InstanceType")
    parts = [
        carbon.estimate(t, hours, region, count=n, cpu_util=used.cpu, gpu_util=used.gpu) for t, n in groups
    ]
    if len(parts) == 1:
        return parts[0]
    return carbon.CarbonEstimate(
        kwh=sum(p.kwh for p in parts),
        kgco2e=sum(p.kgco2e for p in parts),
        operational_kgco2e=sum(p.operational_kgco2e for p in parts),
        embodied_kgco2e=sum(p.embodied_kgco2e for p in parts),
        pue=parts[0].pue,
        grid_kgco2e_per_kwh=parts[0].grid_kgco2e_per_kwh,
        method=parts[0].method,
        estimated=any(p.estimated for p in parts),
        notes=sorted({note for p in parts for note in p.notes}),
    )


def _number(value: float) -> float:
    return float(f"{value:.6g}")


def hugging_face_emissions(record: carbon.CarbonEstimate, job: dict[str, Any], region: str,
                           training_type: str | None = None) -> dict[str, str]:
    """Hugging Face's ``co2_eq_emissions`` fields for the record (emissions in grams), as strings."""
    country = carbon.grid_factor(region).country
    hardware = ", ".join(_hardware(t, n) for t, n in instance_groups(job)) or "unknown"
    return {
        "emissions": f"{record.kgco2e * 1000:.6g}",
        "source": f"Greenrail, {record.method} (Cloud Carbon Footprint's method)",
        "training_type": training_type or "unknown",
        "geographical_location": f"AWS {region}" + (f" ({country})" if country else ""),
        "hardware_used": hardware,
    }


def _hardware(instance_type: str, count: int) -> str:
    try:
        spec = carbon.instance_spec(instance_type)
    except carbon.UnknownInstanceType:
        return f"{count} x {instance_type}"
    accelerators = f" ({spec.gpu_count} x {spec.gpu_model} each)" if spec.gpu_count else ""
    return f"{count} x {instance_type}{accelerators}"


def comparison_text(comparison: carbon.Comparison | None, shown: int) -> str | None:
    """``eu-north-1 0.0296 kgCO2e; eu-west-3 0.0737 kgCO2e; ...`` (the lowest ``shown``)."""
    if comparison is None or not comparison.regions:
        return None
    lines = [f"{r.region} {plain(r.kgco2e)} kgCO2e" + (" (estimated)" if r.estimated else "")
             for r in comparison.regions[:shown]]
    scope = f" within {comparison.residency}" if comparison.residency else ""
    return f"same job, lowest-carbon regions offering {comparison.instance_type}{scope}: " + "; ".join(lines)


def custom_details(record: carbon.CarbonEstimate, job_arn: str, job: dict[str, Any] | None = None,
                   region: str | None = None, comparison: str | None = None,
                   training_type: str | None = None) -> dict[str, str]:
    limit = cards_adapter.CUSTOM_DETAIL_MAX_CHARS
    fields = {
        "training_job_arn": job_arn,
        "energy_kwh": f"{record.kwh:.6g}",
        "emissions_kgco2e": f"{record.kgco2e:.6g}",
        "operational_kgco2e": f"{record.operational_kgco2e:.6g}",
        "embodied_kgco2e": f"{record.embodied_kgco2e:.6g}",
        "pue": f"{record.pue:g}",
        "grid_kgco2e_per_kwh": f"{record.grid_kgco2e_per_kwh:.6g}",
        "method": record.method,
        "estimated": "true" if record.estimated else "false",
    }
    if record.notes:
        fields["notes"] = "; ".join(record.notes)
    if comparison:
        fields["greener_regions"] = comparison
    details = {CUSTOM_PREFIX + key: value[:limit] for key, value in fields.items()}
    if job is not None and region:
        hf = hugging_face_emissions(record, job, region, training_type)
        details.update({HF_PREFIX + key: value[:limit] for key, value in hf.items()})
    return details


def metric_group(record: carbon.CarbonEstimate) -> dict[str, Any]:
    """The ``Sustainability`` metric group (model card JSON schema: simple metrics, typed)."""
    notes = "; ".join(record.notes)[: cards_adapter.CUSTOM_DETAIL_MAX_CHARS]
    data: list[dict[str, Any]] = [
        {"name": "Energy (kWh)", "type": "number", "value": _number(record.kwh)},
        {"name": "Emissions (kgCO2e)", "type": "number", "value": _number(record.kgco2e)},
        {
            "name": "Operational emissions (kgCO2e)",
            "type": "number",
            "value": _number(record.operational_kgco2e),
        },
        {"name": "Embodied emissions (kgCO2e)", "type": "number", "value": _number(record.embodied_kgco2e)},
        {"name": "PUE", "type": "number", "value": record.pue},
        {"name": "Grid factor (kgCO2e/kWh)", "type": "number", "value": _number(record.grid_kgco2e_per_kwh)},
        {"name": "Method", "type": "string", "value": record.method},
        {"name": "Estimated", "type": "boolean", "value": record.estimated},
    ]
    if notes:
        data[-1]["notes"] = notes
    return {"name": METRIC_GROUP, "metric_data": data}


def with_record(
    content_text: str, record: carbon.CarbonEstimate, job_name: str, job_arn: str,
    extra_details: dict[str, str] | None = None,
) -> tuple[str, bool]:
    """(new content, changed): ``content_text`` with the record added; raises CardContentError."""
    try:
        original = json.loads(content_text) if content_text.strip() else {}
    except json.JSONDecodeError as exc:
        raise CardContentError(
            f"content is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    if not isinstance(original, dict):
        raise CardContentError("content is not a JSON object")
    content = copy.deepcopy(original)
    additional = content.setdefault("additional_information", {})
    if not isinstance(additional, dict) or not isinstance(additional.setdefault("custom_details", {}), dict):
        raise CardContentError("additional_information.custom_details is not an object")
    additional["custom_details"].update(extra_details or custom_details(record, job_arn))
    evaluations = content.setdefault("evaluation_details", [])
    if not isinstance(evaluations, list):
        raise CardContentError("evaluation_details is not a list")
    entry = next((e for e in evaluations if isinstance(e, dict) and e.get("name") == job_name), None)
    if entry is None:
        entry = {
            "name": job_name[: cards_adapter.NAME_MAX_CHARS],
            "evaluation_job_arn": job_arn,
            "evaluation_observation": f"Carbon footprint of training job {job_name}, estimated by Greenrail.",
            "metric_groups": [],
        }
        evaluations.append(entry)
    groups = entry.setdefault("metric_groups", [])
    if not isinstance(groups, list):
        raise CardContentError(f"evaluation_details[{job_name}].metric_groups is not a list")
    group = metric_group(record)
    index = next(
        (i for i, g in enumerate(groups) if isinstance(g, dict) and g.get("name") == METRIC_GROUP), None
    )
    if index is None:
        groups.append(group)
    else:
        groups[index] = group
    if content == original:
        return content_text, False
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    if len(text) > cards_adapter.CONTENT_MAX_CHARS:
        raise CardContentError(
            f"content with the record would be {len(text):,} characters, over the {cards_adapter.CONTENT_MAX_CHARS:,} limit"
        )
    return text, True


def draft_card_name(job_name: str) -> str:
    return cards_adapter.card_name(DRAFT_PREFIX + job_name)


def _draft_content(job_name: str) -> str:
    return json.dumps(
        {
            "model_overview": {
                "model_description": f"Draft created by Greenrail for the carbon record of training job {job_name}."
            }
        }
    )


# --- the decision --------------------------------------------------------------------------------


def record_training_job(
    job: dict[str, Any],
    tags: dict[str, str],
    measured: Utilization,
    policy: CarbonPolicy,
    *,
    account: str,
    region: str,
    event_id: str | None = None,
    cards: CardStore | None = None,
    blast_radius: BlastRadius | None = None,
) -> Decision | None:
    """The carbon decision for a described training job; writes the card in enforce mode.

    Returns None when there is nothing to record (job not finished, policy off).
    """
    status = job.get("TrainingJobStatus")
    if policy.mode == Mode.OFF or status not in TERMINAL_STATUSES:
        return None
    cards = cards or _SageMakerCards()
    name, arn = job["TrainingJobName"], job["TrainingJobArn"]
    tagged_card = tags.get(policy.model_card_tag_key)
    card = tagged_card or draft_card_name(name)

    def decide(reason: str, applied: bool = False, **figures: Any) -> Decision:
        return Decision(
            policy=POLICY,
            resource=arn,
            account=account,
            region=region,
            action=ACTION,
            target={"model_card": card},
            mode=policy.mode,
            applied=applied,
            compliant=False,
            reason=reason,
            figures={"training_job": name, "training_job_status": status, **figures},
            event_id=event_id,
            severity=SEVERITY,
        )

    if policy.exemptions.exempts(name, tags):
        return decide("exempt from the carbon policy: no record written").model_copy(
            update={"action": "none"}
        )
    try:
        record, figures = compute_record(job, measured, policy, region)
    except ValueError as exc:  # UnknownInstanceType included
        return decide(f"carbon record not computed: {exc}", error=str(exc))
    comparison = _comparison(job, figures["hours"], figures["cpu_utilization"], figures["gpu_utilization"], policy)
    if comparison is not None:
        figures["greener_regions"] = [r.as_dict() for r in comparison.regions[: policy.preflight.regions_shown]]
    details = custom_details(record, arn, job, region, comparison_text(comparison, policy.preflight.regions_shown),
                             training_type=tags.get(TRAINING_TYPE_TAG))
    outcome = _publish(
        card,
        record,
        job,
        policy,
        cards,
        blast_radius,
        may_create=tagged_card is not None or policy.create_draft_cards,
        details=details,
    )
    if outcome.error:
        figures["error"] = outcome.error
    return decide(outcome.reason, applied=outcome.applied, **figures)


def compute_record(
    job: dict[str, Any], measured: Utilization, policy: CarbonPolicy, region: str
) -> tuple[carbon.CarbonEstimate, dict[str, Any]]:
    """The job's carbon record and the decision figures; raises ValueError for an unknown instance type."""
    hours = job_hours(job)
    groups = instance_groups(job)
    default = policy.default_utilization
    used = Utilization(
        cpu=default if measured.cpu is None else measured.cpu,
        gpu=default if measured.gpu is None else measured.gpu,
    )
    record = _estimate(job, hours, region, used)
    notes = []
    if measured.cpu is None:
        notes.append(f"CPU utilization not measured: assumed {default:g}")
    if measured.gpu is None and any(carbon.instance_spec(t).gpu_count for t, _ in groups):
        notes.append(f"GPU utilization not measured: assumed {default:g}")
    if notes:
        record = record.model_copy(update={"estimated": True, "notes": notes + record.notes})
    figures: dict[str, Any] = {
        **record.as_dict(),
        "notes": record.notes,
        "hours": hours,
        "instances": [{"instance_type": t, "count": n} for t, n in groups],
        "cpu_utilization": used.cpu,
        "gpu_utilization": used.gpu,
        "utilization_measured": not notes,
    }
    return record, figures


class _Outcome(BaseModel):
    model_config = ConfigDict(defer_build=True)

    reason: str
    applied: bool = False
    error: str | None = None


def _named_models(content_text: str) -> list[str]:
    """What the card's ``model_overview.model_id`` and ``model_name`` name (none when unreadable)."""
    try:
        content = json.loads(content_text)
    except json.JSONDecodeError:
        return []
    overview = content.get("model_overview") if isinstance(content, dict) else None
    if not isinstance(overview, dict):
        return []
    return [v.strip() for v in (overview.get("model_id"), overview.get("model_name")) if isinstance(v, str) and v.strip()]


def _model_data_urls(named: str, card_arn: str, cards: CardStore) -> list[str]:
    """The model data of the SageMaker model or model package ``named`` (a name, or an ARN in the
    card's own account and region); nothing for anything else (a model outside SageMaker)."""
    if not named.startswith("arn:"):
        return cards.model_data_urls(named)
    parsed, home = arns.parse(named), arns.parse(card_arn)
    if parsed is None or home is None or parsed.service != "sagemaker" or \
            (parsed.account, parsed.region) != (home.account, home.region):
        return []  # another account's model could share a name with one here
    if parsed.resource_type == "model-package":
        return cards.model_package_data_urls(named)
    if parsed.resource_type == "model":
        return cards.model_data_urls(parsed.name)
    return []


def belongs_to_job(existing: cards_adapter.ModelCard, job: dict[str, Any], cards: CardStore) -> bool:
    """Whether the card is the job's: Greenrail created it for the job, or it names a model (or
    model package) made from the job's output."""
    tags = cards.card_tags(existing.arn)
    if tags.get(MANAGED_TAG) == "true" and tags.get(JOB_TAG) == job["TrainingJobName"]:
        return True
    output = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not output:
        return False  # no model came out of the job (a failed job): only Greenrail's own draft is its
    return any(output in _model_data_urls(named, existing.arn, cards) for named in _named_models(existing.content))


def _refusal(card: str, existing: cards_adapter.ModelCard, job: dict[str, Any], cards: CardStore) -> _Outcome | None:
    """Why an existing card must not be written, or None: only the job's own Draft cards are."""
    if existing.status != cards_adapter.WRITABLE_STATUS:
        return _Outcome(reason=f"model card {card} is {existing.status}: left unchanged")
    if not belongs_to_job(existing, job, cards):
        return _Outcome(reason=(
            f"model card {card} does not belong to job {job['TrainingJobName']} (not created by Greenrail "
            "for it, and its model is not the job's output): left unchanged"))
    return None


def _extend(
    card: str, existing: cards_adapter.ModelCard | None, record: carbon.CarbonEstimate, job: dict[str, Any],
    cards: CardStore, details: dict[str, str] | None = None,
) -> tuple[str | None, _Outcome | None]:
    """(new content, None) when the card can take the record, else (None, why not)."""
    if existing is not None and (refused := _refusal(card, existing, job, cards)) is not None:
        return None, refused
    base = existing.content if existing is not None else _draft_content(job["TrainingJobName"])
    try:
        content, changed = with_record(base, record, job["TrainingJobName"], job["TrainingJobArn"], details)
    except CardContentError as exc:
        return None, _Outcome(reason=f"model card {card} left unchanged: {exc}", error=str(exc))
    if not changed:
        return None, _Outcome(reason=f"model card {card} already carries this record")
    return content, None


def _publish(
    card: str,
    record: carbon.CarbonEstimate,
    job: dict[str, Any],
    policy: CarbonPolicy,
    cards: CardStore,
    blast_radius: BlastRadius | None,
    *,
    may_create: bool,
    details: dict[str, str] | None = None,
) -> _Outcome:
    existing = cards.describe(card)
    if existing is None and not may_create:
        return _Outcome(reason="no model card tagged and draft cards are disabled: record not written")
    content, refused = _extend(card, existing, record, job, cards, details)
    if refused is not None or content is None:
        return refused or _Outcome(reason="no content")
    verb = "new version of" if existing is not None else "new Draft card"
    if policy.mode == Mode.DRY_RUN:
        return _Outcome(reason=f"dry-run: would write the carbon record as a {verb} {card}")
    # one slot per job and card, however often the invocation is retried
    subject = f"{job['TrainingJobArn']}#model-card/{card}"
    if not (blast_radius or BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour)).acquire(subject):
        return _Outcome(reason="blast radius reached for this hour: record not written")
    if existing is not None:
        cards.update_content(card, content)
        return _Outcome(reason=f"carbon record written as a {verb} {card}", applied=True)
    try:
        cards.create_draft(card, content, {MANAGED_TAG: "true", JOB_TAG: job["TrainingJobName"]})
    except Exception as exc:
        if error_code(exc) not in {"ConflictException", "ResourceInUse"}:
            raise
        # Created meanwhile (another invocation, or a person): add the record to that card instead,
        # if it is a Draft of the job's.
        content, refused = _extend(card, cards.describe(card), record, job, cards, details)
        if refused is not None or content is None:
            return refused or _Outcome(reason="no content")
        cards.update_content(card, content)
        return _Outcome(reason=f"carbon record written as a new version of {card}", applied=True)
    return _Outcome(reason=f"carbon record written as a {verb} {card}", applied=True)


# --- pre-flight ----------------------------------------------------------------------------------


def _comparison(job: dict[str, Any], hours: float, cpu: float | None, gpu: float | None,
                policy: CarbonPolicy) -> carbon.Comparison | None:
    """The job in every region offering its instance type (single-type jobs only), or None."""
    groups = instance_groups(job)
    if len(groups) != 1 or hours <= 0:
        return None
    instance_type, count = groups[0]
    try:
        return carbon.compare_regions(instance_type, hours, count=count, cpu_util=cpu, gpu_util=gpu,
                                      residency=policy.preflight.residency,
                                      offered=policy.preflight.offered_regions or None)
    except ValueError:
        return None


class _Stopping(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    MaxRuntimeInSeconds: int = Field(default=DEFAULT_MAX_RUNTIME_SECONDS, gt=0, le=28 * 86_400)


class _Group(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    InstanceType: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9.-]+$")
    InstanceCount: int = Field(default=1, ge=1, le=10_000)


class _Resources(_Group):
    InstanceType: str = Field(default="", max_length=64, pattern=r"^[a-z0-9.-]*$")
    InstanceGroups: list[_Group] = Field(default_factory=list, max_length=20)


class StartingJob(BaseModel):
    """What the pre-flight reads from a ``SageMaker Training Job State Change`` (InProgress) detail."""

    model_config = ConfigDict(extra="ignore", defer_build=True)
    TrainingJobName: str = Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    TrainingJobArn: str = Field(min_length=1, max_length=256, pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:training-job/.+$")
    TrainingJobStatus: Literal["InProgress"]
    ResourceConfig: _Resources
    StoppingCondition: _Stopping = Field(default_factory=_Stopping)
    Tags: dict[str, str] = Field(default_factory=dict)

    def job(self) -> dict[str, Any]:
        """The shape ``instance_groups`` reads (DescribeTrainingJob's)."""
        return {"TrainingJobName": self.TrainingJobName, "TrainingJobArn": self.TrainingJobArn,
                "ResourceConfig": self.ResourceConfig.model_dump(exclude_defaults=False)}


def preflight_training_job(started: StartingJob, policy: CarbonPolicy, *, account: str, region: str,
                           event_id: str | None = None) -> Decision | None:
    """The pre-flight estimate of a starting job: its upper bound here and in greener regions.

    None when the policy is off, the pre-flight disabled or the job exempt.
    """
    if policy.mode == Mode.OFF or not policy.preflight.enabled:
        return None
    if policy.exemptions.exempts(started.TrainingJobName, started.Tags):
        return None
    job = started.job()
    groups = instance_groups(job)
    hours = started.StoppingCondition.MaxRuntimeInSeconds / 3600
    assumed = policy.default_utilization
    figures: dict[str, Any] = {
        "training_job": started.TrainingJobName, "training_job_status": "InProgress", "bound": "upper",
        "max_runtime_hours": round(hours, 4), "instances": [{"instance_type": t, "count": n} for t, n in groups],
        "cpu_utilization": assumed, "gpu_utilization": assumed, "utilization_measured": False,
        "residency": policy.preflight.residency,
    }

    def decide(reason: str, **more: Any) -> Decision:
        return Decision(policy=POLICY, resource=started.TrainingJobArn, account=account, region=region,
                        action=PREFLIGHT_ACTION, target={"regions": [r["region"] for r in more.get("greener_regions", [])]},
                        mode=policy.mode, compliant=False, reason=reason, figures={**figures, **more},
                        event_id=event_id, severity=SEVERITY, status="InProgress")

    used = Utilization(cpu=assumed, gpu=assumed)
    try:
        record = _estimate(job, hours, region, used)
    except ValueError as exc:  # UnknownInstanceType included
        return decide(f"pre-flight carbon not estimated: {exc}", error=str(exc))
    notes = [f"utilization not measured before the job runs: assumed {assumed:g}"] + record.notes
    record = record.model_copy(update={"estimated": True, "notes": notes})
    shown = policy.preflight.regions_shown
    comparison = _comparison(job, hours, assumed, assumed, policy)
    greener = [r.as_dict() for r in (comparison.regions if comparison else [])[:shown]]
    hardware = ", ".join(_hardware(t, n) for t, n in groups)
    reason = (f"pre-flight upper bound ({hardware} for up to {hours:g} h, MaxRuntimeInSeconds): "
              f"{plain(record.kwh)} kWh, {plain(record.kgco2e)} kgCO2e in {region}")
    if greener:
        best = greener[0]
        saving = 1 - best["kgco2e"] / record.kgco2e if record.kgco2e else 0.0
        if best["region"] != region and saving > 0:
            reason += f"; {best['region']} would emit {plain(best['kgco2e'])} kgCO2e ({saving:.0%} less)"
        else:
            reason += f"; {region} is already the lowest-carbon region offering it"
    # nested, not the record's top-level kwh/kgco2e: a bound is not an emission (reports sum those)
    return decide(reason, upper_bound=record.as_dict(), estimated=True, notes=record.notes, greener_regions=greener,
                  offered_basis=comparison.offered_basis if comparison else None,
                  comparison_notes=[n for n in (comparison.notes if comparison else []) if n not in record.notes])


def parse_starting_job(detail: Any) -> StartingJob | ValidationError:
    """The starting job of an event's detail, or why it is malformed."""
    try:
        return StartingJob.model_validate(detail)
    except ValidationError as exc:
        return exc


def _preflight_uses() -> tuple[Any, ...]:
    from greenrail import bus, document, state

    return (document.read_parameter, state.run_once, bus.publish)


def _record_uses() -> tuple[Any, ...]:
    from greenrail import bus, document, state
    from greenrail.adapters import cloudwatch, sagemaker

    return (document.read_parameter, sagemaker.describe_training_job, sagemaker.list_tags,
            cloudwatch.get_metric_series, cards_adapter.describe, cards_adapter.card_tags,
            cards_adapter.model_data_urls, cards_adapter.model_package_data_urls, cards_adapter.create_draft,
            cards_adapter.update_content, state.run_once, state.BlastRadius.acquire, bus.publish)


def _apply(decision: Decision, *args: Any, **kwargs: Any) -> Decision:
    """The carbon record is written while it is decided (the card's content is the decision's
    evidence): ``record_training_job`` writes in enforce mode; nothing is left to apply."""
    return decision


DEFINITION = PolicyDefinition(
    name=POLICY,
    summary="each finished training job's energy and emissions on its SageMaker Model Card; a pre-flight "
            "estimate with greener regions when a job starts",
    config=CarbonPolicy,
    decide=record_training_job,
    apply=_apply,
    scan=None,
    triggers=(
        Trigger("CarbonRecordFunction", _record_uses, member=True, rules=(
            Rule("TrainingJobEnded", ("sagemaker-training-job-completed.json",),
                 ("nearmiss/sagemaker-training-job-inprogress.json", "sagemaker-training-job-inprogress.json",
                  "nearmiss/sagemaker-endpoint-in-service.json")),
            # pre-flight: the same InProgress event the training watch starts on
            Rule("TrainingJobStarted", ("sagemaker-training-job-inprogress.json",),
                 ("sagemaker-training-job-completed.json", "nearmiss/training-watch-tuning-job.json",
                  "nearmiss/training-watch-other-source.json", "nearmiss/sagemaker-endpoint-in-service.json")),
        )),
    ),
)
