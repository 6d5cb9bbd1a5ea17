#!/usr/bin/env python3
"""Regenerate Greenrail's instance catalog and carbon coefficients.

Reads:

* the Cloud Carbon Footprint data packages from npm (``@cloud-carbon-footprint/aws``, ``core`` and
  ``azure``, Apache-2.0, versions pinned in ``scripts/catalog_inputs.json``), fetched with
  ``npm pack`` into a temporary directory and evaluated with ``node``;
* botocore's SageMaker enums (training, hosting, processing and Studio app instance types): the
  list of ``ml.*`` types the catalog must cover;
* ``scripts/catalog_inputs.json``: what CCF lacks (families, vendor accelerator power, regions).

Writes ``layers/greenrail/greenrail/data/instances.json``, the CCF-derived parts of
``data/ccf_coefficients.json`` and ``data/regions.json``. The data files are committed, so tests
need no network; ``tests/unit/test_catalog.py`` fails when botocore learns a type the catalog lacks.

Usage: ``python scripts/generate_catalog.py [--ccf-dump FILE]`` (``--ccf-dump`` reuses a JSON dump
made by an earlier run instead of calling npm and node).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "layers" / "greenrail" / "greenrail" / "data"
INPUTS = ROOT / "scripts" / "catalog_inputs.json"
CCF_SOURCE = "Cloud Carbon Footprint {package} (npm, Apache-2.0), {file}"
EC2_PAGE = "https://aws.amazon.com/ec2/instance-types/{family}/"

# node evaluates CCF's compiled constants; the one module they import from core is replaced by a
# shim built from core's own files (its index pulls in dependencies the constants do not need).
SHIM = """
const dist = process.env.CCF_CORE_DIST;
module.exports = {
  ...require(dist + '/compute/ComputeProcessorTypes.js'),
  ...require(dist + '/FootprintEstimationConstants.js'),
  EstimateUnknownUsageBy: {COST: 'cost', USAGE: 'usage'},
  getAverage: () => 0, getWattsByAverageOrMedian: () => 0,
};
"""
DUMP = """
const aws = process.env.CCF_AWS_DIST, azure = process.env.CCF_AZURE_DIST;
const types = require(aws + '/lib/AWSInstanceTypes.js');
const constants = require(aws + '/domain/AwsFootprintEstimationConstants.js');
const azureConstants = require(azure + '/domain/AzureFootprintEstimationConstants.js');
console.log(JSON.stringify({
  ec2: types.EC2_INSTANCE_TYPES,
  processors: types.INSTANCE_TYPE_COMPUTE_PROCESSOR_MAPPING,
  gpu_counts: types.GPU_INSTANCES_TYPES,
  gpu_models: types.INSTANCE_TYPE_GPU_PROCESSOR_MAPPING,
  constants: constants.AWS_CLOUD_CONSTANTS,
  grid: constants.AWS_EMISSIONS_FACTORS_METRIC_TON_PER_KWH,
  azure_grid: azureConstants.AZURE_EMISSIONS_FACTORS_METRIC_TON_PER_KWH,
}));
"""
# CCF's processor names for GPUs, as the catalog names the models
GPU_NAMES = {"Nvidia Tesla K80": "K80", "Nvidia Tesla V100": "V100", "Nvidia Tesla A100": "A100",
             "Nvidia K520": "K520", "Nvidia Tesla M60": "M60", "Nvidia T4": "T4", "Nvidia A10G": "A10G",
             "AMD Radeon Pro V520": "Radeon Pro V520", "Nvidia Tesla P4": "P4", "Nvidia Tesla P100": "P100"}


def fetch_ccf(packages: dict[str, str]) -> dict[str, Any]:
    """npm pack the pinned CCF packages into a temporary directory and dump their constants."""
    with tempfile.TemporaryDirectory(prefix="ccf-") as tmp:
        root = Path(tmp)
        dists = {}
        for key, spec in packages.items():
            out = subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", tmp],
                                 check=True, capture_output=True, text=True, cwd=tmp).stdout.strip().splitlines()[-1]
            target = root / key
            with tarfile.open(root / out) as archive:
                archive.extractall(target, filter="data")
            dists[key] = target / "package" / "dist"
        shim = root / "node_modules" / "@cloud-carbon-footprint" / "core"
        shim.mkdir(parents=True)
        (shim / "index.js").write_text(SHIM)
        (root / "dump.js").write_text(DUMP)
        env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "NODE_PATH": str(root / "node_modules"),
               "CCF_CORE_DIST": str(dists["core"]), "CCF_AWS_DIST": str(dists["aws"]),
               "CCF_AZURE_DIST": str(dists["azure"])}
        dumped = subprocess.run(["node", str(root / "dump.js")], check=True, capture_output=True, text=True,
                                env=env).stdout
    data: dict[str, Any] = json.loads(dumped)
    return data


def botocore_types(enums: list[str]) -> list[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    found = {value for enum in enums for value in model.shape_for(enum).enum}
    return sorted(t for t in found if t.startswith("ml."))


def size_vcpus(size: str) -> int | None:
    """vCPUs of a standard EC2 size name: medium 1, large 2, xlarge 4, <n>xlarge 4n."""
    if size == "medium":
        return 1
    if size == "large":
        return 2
    match = re.fullmatch(r"(\d*)xlarge", size)
    if match:
        return 4 * int(match.group(1) or 1)
    return None


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _size_rows(family: str, sizes: list[str], hand: dict[str, Any], ccf_sizes: dict[str, Any],
               gpu_counts: dict[str, int]) -> dict[str, tuple[int, float, int, str]]:
    """(vCPUs, memory GiB, accelerators, source) per size: the hand table, else CCF, else the size rule."""
    rows: dict[str, tuple[int, float, int, str]] = {}
    page = hand.get("source") or EC2_PAGE.format(family=family)
    for size in sizes:
        if size in hand.get("sizes", {}):
            vcpus, memory, accel = hand["sizes"][size]
            rows[size] = (vcpus, memory, accel, hand["source"])
        elif size in ccf_sizes:
            vcpus, memory = ccf_sizes[size][0], ccf_sizes[size][1]
            accel = hand.get("accelerators", {}).get(size, gpu_counts.get(f"{family}.{size}", 0))
            rows[size] = (vcpus, memory, accel, page)
        elif "gib_per_vcpu" in hand or ccf_sizes:
            rule = size_vcpus(size)
            if rule is None:
                raise SystemExit(f"ml.{family}.{size}: no size rule; add it to catalog_inputs.json")
            per_vcpu = hand.get("gib_per_vcpu") or max(m / v for v, m, *_ in ccf_sizes.values())
            rows[size] = (rule, rule * per_vcpu, 0, page)
        else:
            raise SystemExit(f"ml.{family}.{size}: not in CCF and not in catalog_inputs.json")
    return rows


def build_catalog(ccf: dict[str, Any], inputs: dict[str, Any], types: list[str]) -> dict[str, Any]:
    aws_pkg = inputs["ccf_packages"]["aws"]
    types_source = CCF_SOURCE.format(package=aws_pkg, file="dist/lib/AWSInstanceTypes.js")
    by_family: dict[str, list[str]] = {}
    for name in types:
        family, size = name.split(".", 2)[1:]
        by_family.setdefault(family, []).append(size)
    families: dict[str, Any] = {}
    instances: dict[str, Any] = {}
    for family, sizes in sorted(by_family.items()):
        hand = inputs["families"].get(family, {})
        ccf_sizes = ccf["ec2"].get(family, {})
        processors = _unique([p for key, ps in ccf["processors"].items() if key.split(".")[0] == family
                              for p in ps if p != "Unknown"])
        cpu = hand.get("cpu") or processors or ["unknown"]
        cpu_source = hand.get("cpu_source") or (types_source if processors and not hand.get("cpu")
                                                else hand.get("source", EC2_PAGE.format(family=family)))
        gpu_model = hand.get("accelerator")
        if gpu_model is None:
            models = {GPU_NAMES.get(m, m) for key, ms in ccf["gpu_models"].items() if key.split(".")[0] == family
                      for m in ms}
            gpu_model = sorted(models)[0] if models else None
        rows = _size_rows(family, sizes, hand, ccf_sizes, ccf["gpu_counts"])
        largest_ccf = max(ccf_sizes.values(), default=[0, 0], key=lambda row: (row[0], row[1]))
        largest = hand.get("largest") or max(
            [largest_ccf[:2]] + [[v, m] for v, m, _, _ in rows.values()], key=lambda row: (row[0], row[1]))
        embodied = None
        if ccf_sizes:
            embodied = largest_ccf[2]
        elif hand.get("embodied_like"):
            embodied = max(ccf["ec2"][hand["embodied_like"]].values())[2]
        families[family] = {
            "cpu_microarchitecture": cpu,
            "cpu_microarchitecture_source": cpu_source,
            "gpu_model": gpu_model,
            "burstable": re.fullmatch(r"t\d+[a-z]*", family) is not None,
            "embodied_tco2e": embodied,
            "embodied_source": (f"{types_source} (EC2_INSTANCE_TYPES, scope 3 column"
                                + (f" of {hand['embodied_like']}, the family it is modelled on)" if hand.get("embodied_like") else ")"))
            if embodied is not None else None,
            "largest_vcpus": largest[0],
            "largest_memory_gib": largest[1],
            "largest_source": hand.get("source") or (types_source if ccf_sizes else EC2_PAGE.format(family=family)),
        }
        if hand.get("note"):
            families[family]["note"] = hand["note"]
        for size, (vcpus, memory, accel, source) in rows.items():
            instances[f"ml.{family}.{size}"] = {
                "vcpus": vcpus, "memory_gib": memory, "gpu_model": gpu_model if accel else None,
                "gpu_count": accel, "cpu_microarchitecture": cpu, "source": source,
            }
    return {
        "_comment": ("GENERATED by scripts/generate_catalog.py: do not edit by hand (edit scripts/catalog_inputs.json). "
                     "SageMaker ML instance catalog used by greenrail.carbon: every ml.* type in botocore's SageMaker "
                     f"enums {', '.join(inputs['botocore_enums'])}. vCPUs, memory and embodied emissions from Cloud Carbon "
                     f"Footprint ({aws_pkg}) where it lists the family, else from the EC2 instance type pages (source per "
                     "entry). 'gpu_model'/'gpu_count' also carry AWS Inferentia/Trainium and Habana Gaudi accelerators."),
        "families": families,
        "instances": dict(sorted(instances.items())),
    }


def _ratio(constants: dict[str, Any]) -> float:
    pairs = [(constants["MIN_WATTS_BY_COMPUTE_PROCESSOR"][k], constants["MAX_WATTS_BY_COMPUTE_PROCESSOR"][k])
             for k in GPU_NAMES if k in constants["MAX_WATTS_BY_COMPUTE_PROCESSOR"]]
    return sum(low / high for low, high in pairs) / len(pairs)


def update_coefficients(coefficients: dict[str, Any], ccf: dict[str, Any], inputs: dict[str, Any],
                        catalog: dict[str, Any]) -> dict[str, Any]:
    constants = ccf["constants"]
    aws_pkg = inputs["ccf_packages"]["aws"]
    constants_file = CCF_SOURCE.format(package=aws_pkg, file="dist/domain/AwsFootprintEstimationConstants.js")
    coefficients["method"] = "cloud-carbon-footprint/aws"
    coefficients["version"] = aws_pkg.rsplit("@", 1)[1]
    coefficients["version_note"] = (f"the {aws_pkg} npm package, read by scripts/generate_catalog.py; "
                                    "vendor accelerator figures from scripts/catalog_inputs.json")
    cpu_min, cpu_max = constants["MIN_WATTS_BY_COMPUTE_PROCESSOR"], constants["MAX_WATTS_BY_COMPUTE_PROCESSOR"]
    coefficients["cpu_watts_per_vcpu"] = {
        "source": f"{constants_file}: MIN_WATTS_BY_COMPUTE_PROCESSOR / MAX_WATTS_BY_COMPUTE_PROCESSOR, MIN_WATTS_AVG / MAX_WATTS_AVG",
        "average": {"min": constants["MIN_WATTS_AVG"], "max": constants["MAX_WATTS_AVG"]},
        "by_microarchitecture": {k: {"min": cpu_min[k], "max": cpu_max[k]} for k in cpu_min if k not in GPU_NAMES},
    }
    coefficients["memory_gb_per_physical_chip"] = {
        "source": f"{constants_file}: MEMORY_BY_COMPUTE_PROCESSOR / MEMORY_AVG; apportioning in packages/core "
                  "calculateGigabyteHours (one physical chip per 96 vCPUs of the family's largest size)",
        "average": constants["MEMORY_AVG"],
        "by_microarchitecture": constants["MEMORY_BY_COMPUTE_PROCESSOR"],
    }
    by_model: dict[str, Any] = {GPU_NAMES[k]: {"min": cpu_min[k], "max": cpu_max[k]} for k in GPU_NAMES if k in cpu_max}
    count = len(by_model)
    average = {"min": round(sum(v["min"] for v in by_model.values()) / count, 6),
               "max": round(sum(v["max"] for v in by_model.values()) / count, 6)}
    ratio = _ratio(constants)
    for model, spec in inputs["accelerators"].items():
        proxy = spec.get("proxy")
        if proxy == "average":
            low, high = average["min"], average["max"]
        elif proxy:
            base = by_model.get(proxy) or {"min": round(inputs["accelerators"][proxy]["max_watts"] * ratio, 4),
                                          "max": inputs["accelerators"][proxy]["max_watts"]}
            low, high = base["min"], base["max"]
        else:
            low, high = round(spec["max_watts"] * ratio, 4), spec["max_watts"]
        by_model[model] = {"min": low, "max": high, "estimated": True, "source": spec["source"], "basis": spec["basis"]}
    coefficients["gpu_watts"] = {
        "source": f"{constants_file}: MIN/MAX_WATTS_BY_COMPUTE_PROCESSOR (GPUs); entries flagged estimated: vendor data sheets (source per entry)",
        "average_note": f"CCF has no GPU average: 'average' is the mean of its {count} GPU coefficients; 'idle_ratio' "
                        "(the mean min/max ratio of those coefficients) gives the idle figure of vendor entries, which "
                        "publish maximum board power only",
        "average": average,
        "idle_ratio": round(ratio, 6),
        "by_model": by_model,
    }
    accelerated = inputs["embodied_fallback_accelerated_from"]
    coefficients["embodied_fallback_tco2e"] = {
        "value": round(sum(catalog["families"][f]["embodied_tco2e"] for f in accelerated) / len(accelerated), 8),
        "source": "mean of the CCF embodied coefficients of the accelerated families " + ", ".join(accelerated)
                  + "; used for accelerated families CCF does not cover, and flagged estimated",
        "derived_from": accelerated,
    }
    cpu_families = sorted(f for f, v in catalog["families"].items()
                          if v["embodied_tco2e"] is not None and not v["gpu_model"] and not v["burstable"])
    coefficients["embodied_fallback_cpu_tco2e"] = {
        "value": round(sum(catalog["families"][f]["embodied_tco2e"] for f in cpu_families) / len(cpu_families), 8),
        "source": "mean of the CCF embodied coefficients of the CPU families in instances.json; used for CPU "
                  "families CCF does not cover, and flagged estimated",
        "derived_from": cpu_families,
    }
    grid = dict(ccf["grid"])
    unknown = grid.pop("Unknown")
    coefficients["grid_tco2e_per_kwh"] = {
        "source": f"{constants_file}: AWS_EMISSIONS_FACTORS_METRIC_TON_PER_KWH (US regions: EPA eGRID2020 NERC "
                  "regions SERC/RFC/WECC; eu-*: EEA; others: carbonfootprint.com / climate-transparency.org as cited by CCF)",
        "unknown": unknown,
        "by_region": grid,
    }
    return coefficients


def build_regions(ccf: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    regions = inputs["regions"]
    azure_pkg = inputs["ccf_packages"]["azure"]
    fallback: dict[str, Any] = {}
    for region, rule in regions["grid_fallback"].items():
        if region.startswith("_"):
            continue
        source = rule["from"]
        entry: dict[str, Any] = {"country": regions["country"][region], "why": rule["why"], "from": source}
        if source:
            cloud, name = source.split(":", 1)
            table = ccf["grid"] if cloud == "aws" else ccf["azure_grid"]
            entry["tco2e_per_kwh"] = table[name]
            entry["source"] = CCF_SOURCE.format(
                package=inputs["ccf_packages"][cloud],
                file=("dist/domain/AwsFootprintEstimationConstants.js" if cloud == "aws"
                      else "dist/domain/AzureFootprintEstimationConstants.js") + f" ({name})")
        fallback[region] = entry
    return {
        "_comment": ("GENERATED by scripts/generate_catalog.py from scripts/catalog_inputs.json and the CCF packages "
                     f"(fallback factors from {azure_pkg} where named). " + regions["_comment"]),
        "country": regions["country"],
        "residency": regions["residency"],
        "grid_fallback": fallback,
        "offered_by_family": regions["offered_by_family"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ccf-dump", type=Path, help="reuse a dump of the CCF constants instead of npm + node")
    parser.add_argument("--save-dump", type=Path, help="also write the CCF dump here")
    args = parser.parse_args(argv)
    inputs = json.loads(INPUTS.read_text())
    ccf = json.loads(args.ccf_dump.read_text()) if args.ccf_dump else fetch_ccf(inputs["ccf_packages"])
    if args.save_dump:
        args.save_dump.write_text(json.dumps(ccf))
    types = botocore_types(inputs["botocore_enums"])
    catalog = build_catalog(ccf, inputs, types)
    coefficients_path = DATA / "ccf_coefficients.json"
    coefficients = update_coefficients(json.loads(coefficients_path.read_text()), ccf, inputs, catalog)
    (DATA / "instances.json").write_text(json.dumps(catalog, indent=1) + "\n")
    coefficients_path.write_text(json.dumps(coefficients, indent=2) + "\n")
    (DATA / "regions.json").write_text(json.dumps(build_regions(ccf, inputs), indent=1) + "\n")
    print(f"{len(catalog['instances'])} instance types in {len(catalog['families'])} families", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
