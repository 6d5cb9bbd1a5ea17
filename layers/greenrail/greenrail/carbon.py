"""The carbon model: energy and emissions of SageMaker instances, Cloud Carbon Footprint's method.

One model for all of Greenrail (the ``carbon`` command, the carbon record on Model Cards, the
savings of the storage and training policies). The coefficients live in ``data/ccf_coefficients.json``
and the instance catalog in ``data/instances.json``, each number with its source.

Per instance and hour (Cloud Carbon Footprint, "Methodology", AWS):

* compute watts = vCPUs x (min + cpu_util x (max - min)) per microarchitecture, plus
  GPUs x (min + gpu_util x (max - min)) per GPU model;
* memory: CCF counts only the memory beyond what its per-chip coefficient already covers:
  ((largest size's memory / physical chips) - GB per chip) / (largest memory / this size's memory)
  GB-hours x 0.000392 kWh; burstable (t) families get none;
* energy (kWh) = (compute Wh / 1000 + memory kWh) x PUE;
* operational kgCO2e = energy x the region's grid factor;
* embodied kgCO2e = family tCO2e x 1000 x hours / 35,040 x vCPUs / the family's largest vCPU count.

Where CCF has no coefficient (Ice Lake and AMD Milan CPUs, H100, Inferentia2, Trainium; embodied
figures for p5, inf2, trn1; regions it does not list) the method's average is used and the result is
flagged ``estimated`` with a note saying which part was averaged.
"""

from __future__ import annotations

import difflib
import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from greenrail.sagemaker_facts import UnknownInstanceType

__all__ = ["CarbonEstimate", "InstanceSpec", "UnknownInstanceType", "UnknownRegion", "UnknownStorageClass",
           "check_region", "estimate", "instance_spec"]

ML_PREFIX = "ml."
UNKNOWN_REGION = "unknown"

class UnknownStorageClass(ValueError):
    """An S3 storage class without a replication factor in the coefficients."""


class InstanceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_type: str
    family: str
    vcpus: int
    memory_gib: float
    gpu_model: str | None
    gpu_count: int
    cpu_microarchitecture: str
    source: str


class CarbonEstimate(BaseModel):
    """Energy and emissions of ``count`` instances for ``hours`` hours."""

    model_config = ConfigDict(extra="forbid")

    kwh: float
    kgco2e: float
    operational_kgco2e: float
    embodied_kgco2e: float
    pue: float
    grid_kgco2e_per_kwh: float
    method: str
    estimated: bool = False
    notes: list[str] = Field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``greenrail carbon --format json`` (notes excluded)."""
        return {
            "kwh": self.kwh,
            "kgco2e": self.kgco2e,
            "operational_kgco2e": self.operational_kgco2e,
            "embodied_kgco2e": self.embodied_kgco2e,
            "pue": self.pue,
            "grid_kgco2e_per_kwh": self.grid_kgco2e_per_kwh,
            "method": self.method,
            "estimated": self.estimated,
        }


@lru_cache(maxsize=1)
def _coefficients() -> dict[str, Any]:
    return json.loads(resources.files("greenrail").joinpath("data/ccf_coefficients.json").read_text())


@lru_cache(maxsize=1)
def _catalog() -> dict[str, Any]:
    return json.loads(resources.files("greenrail").joinpath("data/instances.json").read_text())


def method() -> str:
    coefficients = _coefficients()
    return f"{coefficients['method']}@{coefficients['version']}"


def known_instance_types() -> list[str]:
    """Every ``ml.*`` instance type the model can estimate, sorted."""
    return sorted(_catalog()["instances"])


def known_families() -> list[str]:
    return sorted(_catalog()["families"])


def _normalise(instance_type: str) -> str:
    name = instance_type.strip().lower()
    return name if name.startswith(ML_PREFIX) else ML_PREFIX + name


def instance_spec(instance_type: str) -> InstanceSpec:
    """vCPUs, memory, accelerators and CPU microarchitecture of ``instance_type`` (``ml.`` optional)."""
    name = _normalise(instance_type)
    entry = _catalog()["instances"].get(name)
    if entry is None:
        family = name[len(ML_PREFIX) :].split(".")[0]
        if family in _catalog()["families"]:
            sizes = sorted(t for t in _catalog()["instances"] if t.startswith(f"{ML_PREFIX}{family}."))
            hint = f"known {family} sizes: {', '.join(sizes)}"
        else:
            hint = f"known families: {', '.join(known_families())}"
        raise UnknownInstanceType(f"unknown instance type {instance_type!r}; {hint}")
    return InstanceSpec(
        instance_type=name,
        family=name[len(ML_PREFIX) :].split(".")[0],
        vcpus=entry["vcpus"],
        memory_gib=entry["memory_gib"],
        gpu_model=entry["gpu_model"],
        gpu_count=entry["gpu_count"],
        cpu_microarchitecture=" / ".join(entry["cpu_microarchitecture"]),
        source=entry["source"],
    )


def grid_factor_kgco2e_per_kwh(region: str) -> tuple[float, bool]:
    """(kgCO2e per kWh, known) for ``region``; unknown regions get CCF's average."""
    grid = _coefficients()["grid_tco2e_per_kwh"]
    tonnes = grid["by_region"].get(region)
    if tonnes is None:
        return grid["unknown"] * 1000, False
    return tonnes * 1000, True


class UnknownRegion(ValueError):
    """A region name no AWS partition knows (a typo, most often)."""


REGION_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
MAX_REGION_TYPOS = 3  # beyond this many edits, the nearest region is no longer a likely meaning


@lru_cache(maxsize=1)
def known_regions() -> tuple[str, ...]:
    """SageMaker's regions in the aws, aws-cn and aws-us-gov partitions, from botocore's endpoint data."""
    import botocore.session

    session = botocore.session.get_session()
    return tuple(sorted({name for partition in REGION_PARTITIONS
                         for name in session.get_available_regions("sagemaker", partition_name=partition)}))


def check_region(region: str) -> str:
    """``region`` when AWS knows it, else UnknownRegion naming the nearest known region.

    A known region without a CCF grid factor is fine: ``estimate`` falls back to the average.
    """
    known = known_regions()
    if region in known:
        return region
    # fewest typos (a swap of two letters counts one), then difflib's similarity
    typed = region.strip().lower()
    nearest = min(known, key=lambda name: (_typos(typed, name),
                                           -difflib.SequenceMatcher(None, typed, name).ratio(), name))
    hint = (f"did you mean {nearest}?" if _typos(typed, nearest) <= MAX_REGION_TYPOS
            else f"known regions: {', '.join(known)}")
    raise UnknownRegion(f"unknown region {region!r}: {hint}")


def _typos(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: insertions, deletions, substitutions, swaps of adjacent letters."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        row = [i]
        for j, other in enumerate(b, 1):
            cost = row[j - 1] + 1, previous[j] + 1, previous[j - 1] + (char != other)
            best = min(cost)
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                best = min(best, previous2[j - 2] + 1)
            row.append(best)
        previous2, previous = previous, row
    return previous[-1]


def _check_fraction(name: str, value: float | None) -> None:
    if value is not None and (math.isnan(value) or not 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value}")


def _cpu_watts(microarchitectures: list[str], notes: list[str]) -> tuple[float, float, bool]:
    """Per-vCPU (min, max) watts: CCF averages the coefficients of the listed microarchitectures."""
    table = _coefficients()["cpu_watts_per_vcpu"]
    known = [
        table["by_microarchitecture"][m] for m in microarchitectures if m in table["by_microarchitecture"]
    ]
    if len(known) != len(microarchitectures) or not known:
        notes.append(
            f"no CCF CPU coefficient for {' / '.join(microarchitectures)}: used CCF's average "
            f"({table['average']['min']}-{table['average']['max']} W per vCPU)"
        )
        return table["average"]["min"], table["average"]["max"], True
    return (
        sum(c["min"] for c in known) / len(known),
        sum(c["max"] for c in known) / len(known),
        False,
    )


def _gpu_watts(model: str, notes: list[str]) -> tuple[float, float, bool]:
    table = _coefficients()["gpu_watts"]
    coefficient = table["by_model"].get(model)
    if coefficient is None:
        notes.append(
            f"no CCF coefficient for the {model} accelerator: used the mean of CCF's GPU coefficients "
            f"({table['average']['min']}-{table['average']['max']} W), likely an underestimate for current parts"
        )
        return table["average"]["min"], table["average"]["max"], True
    return coefficient["min"], coefficient["max"], False


def _memory_gb_hours(spec: InstanceSpec, family: dict[str, Any], hours: float) -> float:
    """CCF's memory apportioning (packages/core calculateGigabyteHours), in GB-hours."""
    if family["burstable"]:
        return 0.0  # CCF: the largest burstable size is not a whole server, no memory is apportioned
    table = _coefficients()["memory_gb_per_physical_chip"]
    per_chip_known = [table["by_microarchitecture"].get(m) for m in family["cpu_microarchitecture"]]
    values = [v for v in per_chip_known if v is not None]
    per_chip = sum(values) / len(values) if values else table["average"]
    chips = math.ceil(family["largest_vcpus"] / 96)  # CCF: one physical chip per 96 vCPUs at most
    delta = family["largest_memory_gib"] / chips - per_chip
    if delta <= 0:
        return 0.0
    return delta / (family["largest_memory_gib"] / spec.memory_gib) * hours


def estimate(
    instance_type: str,
    hours: float,
    region: str,
    count: int = 1,
    cpu_util: float | None = None,
    gpu_util: float | None = None,
) -> CarbonEstimate:
    """Energy and emissions of ``count`` x ``instance_type`` running ``hours`` in ``region``.

    Utilizations are fractions 0..1 (default 0.5, CCF's average). Raises UnknownInstanceType,
    or ValueError for negative hours, a count below 1 or a utilization outside 0..1.
    """
    if hours < 0 or math.isnan(hours):
        raise ValueError(f"hours must be zero or more, got {hours}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    _check_fraction("cpu_util", cpu_util)
    _check_fraction("gpu_util", gpu_util)
    spec = instance_spec(instance_type)
    coefficients = _coefficients()
    family = _catalog()["families"][spec.family]
    default = coefficients["default_utilization"]["value"]
    cpu = default if cpu_util is None else cpu_util
    gpu = default if gpu_util is None else gpu_util
    notes: list[str] = []

    cpu_min, cpu_max, cpu_estimated = _cpu_watts(family["cpu_microarchitecture"], notes)
    watts = spec.vcpus * (cpu_min + cpu * (cpu_max - cpu_min))
    gpu_estimated = False
    if spec.gpu_model and spec.gpu_count:
        gpu_min, gpu_max, gpu_estimated = _gpu_watts(spec.gpu_model, notes)
        watts += spec.gpu_count * (gpu_min + gpu * (gpu_max - gpu_min))
    memory_kwh = _memory_gb_hours(spec, family, hours) * coefficients["memory_kwh_per_gb_hour"]["value"]
    pue = coefficients["pue"]["value"]
    kwh = (watts * hours / 1000 + memory_kwh) * pue * count

    grid, region_known = grid_factor_kgco2e_per_kwh(region)
    if not region_known:
        notes.append(f"no CCF grid factor for region {region!r}: used CCF's unknown-region average")
    operational = kwh * grid

    embodied_tonnes = family["embodied_tco2e"]
    embodied_estimated = embodied_tonnes is None
    if embodied_estimated:
        embodied_tonnes = coefficients["embodied_fallback_tco2e"]["value"]
        notes.append(
            f"no CCF embodied coefficient for the {spec.family} family: used {embodied_tonnes} tCO2e, "
            "the mean of CCF's accelerated families"
        )
    lifespan = coefficients["server_lifespan_hours"]["value"]
    embodied = embodied_tonnes * 1000 * hours / lifespan * spec.vcpus / family["largest_vcpus"] * count

    return CarbonEstimate(
        kwh=kwh,
        kgco2e=operational + embodied,
        operational_kgco2e=operational,
        embodied_kgco2e=embodied,
        pue=pue,
        grid_kgco2e_per_kwh=grid,
        method=method(),
        estimated=cpu_estimated or gpu_estimated or embodied_estimated or not region_known,
        notes=notes,
    )


def storage_kgco2e_per_gb_month(storage_class: str, region: str) -> float:
    """Operational kgCO2e of storing one GB for a month in S3 ``storage_class`` in ``region``.

    CCF counts S3 as HDD storage (0.65 Wh per TB-hour) times the class's replication factor,
    times PUE and the grid factor. Unknown regions use CCF's average grid factor.
    """
    storage = _coefficients()["storage"]
    factor = storage["s3_replication_factors"].get(storage_class.upper())
    if factor is None:
        raise UnknownStorageClass(
            f"unknown S3 storage class {storage_class!r}; known: {', '.join(sorted(storage['s3_replication_factors']))}"
        )
    kwh_per_gb_month = storage["hdd_wh_per_tb_hour"] / 1000 / 1000 * storage["hours_per_month"] * factor
    grid, _ = grid_factor_kgco2e_per_kwh(region)
    return kwh_per_gb_month * _coefficients()["pue"]["value"] * grid
