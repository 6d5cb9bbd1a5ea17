"""greenrail.carbon reproduces Cloud Carbon Footprint's arithmetic, worked by hand below.

Constants (CCF, AwsFootprintEstimationConstants.ts): PUE 1.135; memory 0.000392 kWh/GB-h;
lifespan 35,040 h; grid tCO2e/kWh us-east-1 0.000379069, eu-west-1 0.0002786,
eu-north-1 0.0000088, unknown 0.00039278188. Memory beyond CCF's per-chip figure:
((largest memory / chips) - GB per chip) / (largest memory / memory) GB, chips = ceil(largest vCPUs / 96).
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from greenrail import carbon


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9)


def test_p3_2xlarge_us_east_1_default_utilization() -> None:
    # ml.p3.2xlarge: 8 vCPUs Broadwell (0.71-3.69 W), 1 V100 (35-306 W), 61 GiB; family p3:
    # largest 64 vCPUs / 488 GiB, embodied 3.5429488 tCO2e. 10 h at 50 %.
    cpu_w = 8 * (0.71 + 0.5 * (3.69 - 0.71))  # 17.6 W
    gpu_w = 1 * (35 + 0.5 * (306 - 35))  # 170.5 W
    # memory: (488 GiB on 1 chip - Broadwell's 69.65 GB/chip) / (488 / 61) * 10 h = 418.35 / 8 * 10 = 522.9375 GB-h
    memory_gbh = (488 / 1 - 69.65) / (488 / 61) * 10
    kwh = ((cpu_w + gpu_w) * 10 / 1000 + memory_gbh * 0.000392) * 1.135  # (1.881 + 0.20499) * 1.135
    embodied = 3.5429488 * 1000 * 10 / 35040 * 8 / 64
    result = carbon.estimate("ml.p3.2xlarge", hours=10, region="us-east-1")
    assert result.kwh == approx(kwh) and kwh == pytest.approx(2.3676003525)
    assert result.operational_kgco2e == approx(kwh * 0.379069)
    assert result.embodied_kgco2e == approx(embodied) and embodied == pytest.approx(0.12638944, rel=1e-6)
    assert result.kgco2e == approx(kwh * 0.379069 + embodied)
    assert result.pue == 1.135 and result.grid_kgco2e_per_kwh == approx(0.379069)
    assert result.estimated is False and result.notes == []
    assert result.method.startswith("cloud-carbon-footprint/aws@")


def test_m5_xlarge_eu_west_1_measured_cpu_and_count() -> None:
    # ml.m5.xlarge: 4 vCPUs Skylake (0.65-4.26 W), 16 GiB, no GPU; family m5: largest 96 vCPUs / 384 GiB
    # (one chip), Skylake 81.32 GB/chip, embodied 1.6103792. 3 instances, 2 h, CPU 20 %.
    cpu_w = 4 * (0.65 + 0.2 * (4.26 - 0.65))  # 5.488 W
    memory_gbh = (384 - 81.32) / (384 / 16) * 2  # 302.68 / 24 * 2 = 25.2233 GB-h
    kwh = (cpu_w * 2 / 1000 + memory_gbh * 0.000392) * 1.135 * 3
    embodied = 1.6103792 * 1000 * 2 / 35040 * 4 / 96 * 3
    result = carbon.estimate("ml.m5.xlarge", hours=2, region="eu-west-1", count=3, cpu_util=0.2)
    assert result.kwh == approx(kwh)
    assert result.operational_kgco2e == approx(kwh * 0.2786)
    assert result.embodied_kgco2e == approx(embodied)


def test_c5_averages_cascade_lake_and_skylake() -> None:
    # CCF maps c5 to Cascade Lake and Skylake and averages them: min (0.64+0.65)/2, max (3.97+4.26)/2;
    # memory per chip (98.12+81.32)/2 = 89.72 vs c5 largest 192 GiB on ceil(96/96) = 1 chip.
    cpu_w = 16 * (0.645 + 0.5 * (4.115 - 0.645))
    memory_gbh = (192 - 89.72) / (192 / 32) * 1
    kwh = (cpu_w / 1000 + memory_gbh * 0.000392) * 1.135
    result = carbon.estimate("c5.4xlarge", hours=1, region="us-east-1")  # the ml. prefix is optional
    assert result.kwh == approx(kwh)
    assert result.embodied_kgco2e == approx(1.3440944 * 1000 / 35040 * 16 / 96)


def test_g4dn_xlarge_eu_north_1_gpu_utilization() -> None:
    # ml.g4dn.xlarge: 4 vCPUs Cascade Lake (0.64-3.97 W), 1 T4 (8-71 W), 16 GiB; g4dn largest 96 / 384
    # (metal), Cascade Lake 98.12 GB/chip. 5 h, CPU 30 %, GPU 90 %.
    cpu_w = 4 * (0.64 + 0.3 * (3.97 - 0.64))
    gpu_w = 8 + 0.9 * (71 - 8)
    memory_gbh = (384 - 98.12) / (384 / 16) * 5
    kwh = ((cpu_w + gpu_w) * 5 / 1000 + memory_gbh * 0.000392) * 1.135
    result = carbon.estimate("ml.g4dn.xlarge", hours=5, region="eu-north-1", cpu_util=0.3, gpu_util=0.9)
    assert result.kwh == approx(kwh)
    assert result.operational_kgco2e == approx(kwh * 0.0088)
    assert result.embodied_kgco2e == approx(3.0103792 * 1000 * 5 / 35040 * 4 / 96)


def test_burstable_t3_counts_no_memory() -> None:
    # CCF apportions no memory to burstable families: ml.t3.medium is 2 vCPUs Cascade Lake only.
    kwh = 2 * (0.64 + 0.5 * (3.97 - 0.64)) * 4 / 1000 * 1.135
    result = carbon.estimate("ml.t3.medium", hours=4, region="us-west-2")
    assert result.kwh == approx(kwh)
    assert result.embodied_kgco2e == approx(1.6103792 * 1000 * 4 / 35040 * 2 / 8)


def test_p5_uses_averages_and_vendor_power_and_is_flagged() -> None:
    # No CCF coefficient for AMD Milan or the p5 family's embodied emissions: averages, flagged. The H100
    # has no CCF coefficient either: NVIDIA's data sheet gives 700 W, idle at CCF's mean GPU idle ratio.
    coefficients = json.loads(resources.files("greenrail").joinpath("data/ccf_coefficients.json").read_text())
    h100 = coefficients["gpu_watts"]["by_model"]["H100"]
    assert h100["max"] == 700 and h100["estimated"] is True and h100["source"].startswith("https://www.nvidia.com/")
    assert h100["min"] == pytest.approx(700 * coefficients["gpu_watts"]["idle_ratio"], rel=1e-4)
    cpu_w = 192 * (0.74 + 0.5 * (3.5 - 0.74))
    gpu_w = 8 * (h100["min"] + 0.5 * (700 - h100["min"]))
    memory_gbh = (2048 / 2 - 80.69) / (2048 / 2048) * 1  # 192 vCPUs -> 2 chips, CCF average 80.69 GB/chip
    kwh = ((cpu_w + gpu_w) / 1000 + memory_gbh * 0.000392) * 1.135
    result = carbon.estimate("ml.p5.48xlarge", hours=1, region="us-east-1")
    assert result.kwh == approx(kwh)
    assert result.embodied_kgco2e == approx(3.64115904 * 1000 / 35040 * 192 / 192)
    assert result.estimated is True
    joined = " ".join(result.notes)
    assert "AMD EPYC 3rd Gen" in joined and "H100" in joined and "nvidia.com" in joined and "p5" in joined


def test_unknown_region_uses_ccf_average_with_a_note() -> None:
    result = carbon.estimate("ml.m5.large", hours=1, region="xx-nowhere-9")
    assert result.grid_kgco2e_per_kwh == approx(0.39278188)
    assert result.estimated is True
    assert any("xx-nowhere-9" in note for note in result.notes)


def test_unknown_instance_type_names_the_families() -> None:
    with pytest.raises(carbon.UnknownInstanceType) as caught:
        carbon.estimate("ml.zz9.huge", hours=1, region="us-east-1")
    assert isinstance(caught.value, ValueError)
    assert "p4d" in str(caught.value) and "g5" in str(caught.value)
    with pytest.raises(carbon.UnknownInstanceType, match="ml.p3.2xlarge"):
        carbon.estimate("ml.p3.4xlarg", hours=1, region="us-east-1")  # known family, a size no rule reads


@pytest.mark.parametrize(
    "kwargs",
    [{"hours": -1}, {"count": 0}, {"cpu_util": 1.5}, {"gpu_util": -0.1}, {"cpu_util": float("nan")}],
)
def test_invalid_arguments(kwargs: dict[str, float]) -> None:
    arguments = {"instance_type": "ml.m5.large", "hours": 1.0, "region": "us-east-1", **kwargs}
    with pytest.raises(ValueError):
        carbon.estimate(**arguments)  # type: ignore[arg-type]


def test_as_dict_has_exactly_the_json_keys() -> None:
    record = carbon.estimate("ml.g5.xlarge", hours=1, region="eu-central-1").as_dict()
    assert set(record) == {
        "kwh", "kgco2e", "operational_kgco2e", "embodied_kgco2e", "pue", "grid_kgco2e_per_kwh", "method", "estimated",
    }  # fmt: skip
    json.dumps(record)


def test_instance_spec_and_catalog() -> None:
    spec = carbon.instance_spec("ml.p4d.24xlarge")
    assert (spec.vcpus, spec.memory_gib, spec.gpu_model, spec.gpu_count) == (96, 1152, "A100", 8)
    assert spec.cpu_microarchitecture == "Cascade Lake"
    assert carbon.instance_spec("ml.g4dn.12xlarge").gpu_count == 4
    known = carbon.known_instance_types()
    families = {name.split(".")[1] for name in known}
    assert {"t3", "m5", "m6i", "c5", "c6i", "r5", "g4dn", "g5", "p3", "p4d", "p5", "inf2", "trn1"} <= families
    assert all(name.startswith("ml.") for name in known)


def test_catalog_is_consistent() -> None:
    catalog = json.loads(resources.files("greenrail").joinpath("data/instances.json").read_text())
    coefficients = json.loads(resources.files("greenrail").joinpath("data/ccf_coefficients.json").read_text())
    for name, entry in catalog["instances"].items():
        family = catalog["families"][name.split(".")[1]]
        assert entry["vcpus"] <= family["largest_vcpus"], name
        assert entry["memory_gib"] <= family["largest_memory_gib"], name
        assert entry["source"].startswith("https://aws.amazon.com/"), name
        assert (entry["gpu_model"] is None) == (entry["gpu_count"] == 0), name
    fallback = coefficients["embodied_fallback_tco2e"]
    mean = sum(catalog["families"][f]["embodied_tco2e"] for f in fallback["derived_from"]) / len(
        fallback["derived_from"]
    )
    assert fallback["value"] == pytest.approx(mean)


def test_s3_storage_factor() -> None:
    # HDD 0.65 Wh/TB-h -> 0.00065 Wh/GB-h x 730 h x replication x PUE 1.135 x grid.
    standard = 0.65 / 1000 / 1000 * 730 * 6 * 1.135 * 0.379069
    assert carbon.storage_kgco2e_per_gb_month("STANDARD", "us-east-1") == approx(standard)
    assert carbon.storage_kgco2e_per_gb_month("INTELLIGENT_TIERING", "us-east-1") == approx(standard)
    assert carbon.storage_kgco2e_per_gb_month("ONEZONE_IA", "us-east-1") == approx(standard / 3)
    with pytest.raises(carbon.UnknownStorageClass):
        carbon.storage_kgco2e_per_gb_month("PAPYRUS", "us-east-1")


def test_a_job_shorter_than_a_minute_is_not_measured() -> None:
    """CloudWatch refuses StartTime == EndTime (at its one-second resolution), and a job under a
    minute has no per-minute datapoint: the record falls back to the assumed utilization."""
    from datetime import UTC, datetime, timedelta

    from greenrail.policies.carbon import Utilization, measure_utilization

    start = datetime(2026, 1, 1, 10, 0, 0, 300_000, tzinfo=UTC)
    job = {"TrainingJobName": "quick", "TrainingStartTime": start, "TrainingEndTime": start + timedelta(seconds=0.4),
           "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}}
    assert measure_utilization(job) == Utilization()  # no AWS call: none is configured here
