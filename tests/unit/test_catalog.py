"""The instance catalog and region table at their edges: every botocore type, vendor accelerators,
future types judged by family, regions without a grid factor, the region comparison and residency."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources

import botocore.session
import pytest

from greenrail import carbon
from greenrail.decision import Mode
from greenrail.policies.training import HostUtilization, IdleRule, TrainingJobSnapshot, TrainingPolicy, decide

ENUMS = ("TrainingInstanceType", "ProductionVariantInstanceType", "ProcessingInstanceType", "AppInstanceType")
UNKNOWN_GRID = 0.39278188  # CCF's unknown-region average, kgCO2e/kWh


def _data(name: str) -> dict:
    return json.loads(resources.files("greenrail").joinpath(f"data/{name}").read_text())


def test_catalog_covers_every_ml_type_botocore_knows() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    botocore_types = {t for enum in ENUMS for t in model.shape_for(enum).enum if t.startswith("ml.")}
    missing = sorted(botocore_types - set(carbon.known_instance_types()))
    assert not missing, f"run scripts/generate_catalog.py: the catalog lacks {missing}"
    assert len(botocore_types) > 300


@pytest.mark.parametrize(("instance_type", "accelerator", "count"), [
    ("ml.g6.xlarge", "L4", 1), ("ml.g6e.12xlarge", "L40S", 4), ("ml.p5e.48xlarge", "H200", 8),
    ("ml.trn2.48xlarge", "Trainium2", 16), ("ml.inf1.xlarge", "Inferentia", 1), ("ml.c7i.xlarge", None, 0),
    ("ml.p5.48xlarge", "H100", 8), ("ml.dl1.24xlarge", "Gaudi", 8),
])
def test_types_once_unknown_are_in_the_catalog(instance_type: str, accelerator: str | None, count: int) -> None:
    spec = carbon.instance_spec(instance_type)
    assert (spec.gpu_model, spec.gpu_count, spec.estimated) == (accelerator, count, False)
    assert carbon.estimate(instance_type, 1, "us-east-1").kwh > 0


def test_accelerators_ccf_lacks_carry_their_source_and_are_estimated() -> None:
    by_model = _data("ccf_coefficients.json")["gpu_watts"]["by_model"]
    for model in ("H100", "H200", "L4", "L40S", "B200", "Gaudi", "Inferentia", "Inferentia2", "Trainium", "Trainium2"):
        entry = by_model[model]
        assert entry["estimated"] is True and entry["source"].startswith("https://") and entry["basis"], model
        assert 0 < entry["min"] < entry["max"], model
    assert "estimated" not in by_model["A100"]  # CCF's own coefficients are not flagged
    result = carbon.estimate("ml.g6.xlarge", 1, "us-east-1")
    assert result.estimated and any("L4" in n and "nvidia.com" in n for n in result.notes)


def test_catalog_cpu_coefficients_come_from_the_pinned_ccf_package() -> None:
    coefficients = _data("ccf_coefficients.json")
    assert coefficients["version"] == "0.15.0"
    assert "@cloud-carbon-footprint/aws@0.15.0" in coefficients["cpu_watts_per_vcpu"]["source"]
    assert coefficients["cpu_watts_per_vcpu"]["by_microarchitecture"]["Skylake"] == {"min": 0.65, "max": 4.26}


def test_a_future_size_of_a_known_family_is_judged_by_its_family() -> None:
    spec = carbon.instance_spec("ml.g6.96xlarge")  # not (yet) a SageMaker type
    assert spec.estimated and spec.family == "g6" and spec.vcpus == 384 and spec.gpu_model == "L4"
    result = carbon.estimate("ml.g6.96xlarge", 1, "us-east-1")
    assert result.estimated and "judged by its family" in result.notes[0]


def test_a_future_family_is_judged_by_the_newest_of_its_kind() -> None:
    spec = carbon.instance_spec("ml.c9i.2xlarge")
    assert spec.estimated and spec.family == "c8i" and (spec.vcpus, spec.memory_gib, spec.gpu_count) == (8, 16, 0)
    assert carbon.instance_spec("ml.g9e.xlarge").gpu_count == 1
    with pytest.raises(carbon.UnknownInstanceType):
        carbon.instance_spec("ml.zz9.xlarge")  # no family of that kind


def test_region_without_its_own_factor_uses_its_countrys_nearest_published_factor() -> None:
    coefficients = _data("ccf_coefficients.json")["grid_tco2e_per_kwh"]
    assert "ap-south-2" not in coefficients["by_region"]
    factor = carbon.grid_factor("ap-south-2")  # Hyderabad -> India's published factor (Mumbai)
    assert factor.basis == "country" and factor.estimated and factor.country == "IN"
    assert factor.kgco2e_per_kwh == pytest.approx(coefficients["by_region"]["ap-south-1"] * 1000)
    assert factor.kgco2e_per_kwh != pytest.approx(UNKNOWN_GRID)
    result = carbon.estimate("ml.m5.large", 1, "ap-south-2")
    assert result.estimated and any("IN" in n and "ap-south-1" in n for n in result.notes)
    zurich = carbon.grid_factor("eu-central-2")
    assert zurich.basis == "country" and zurich.country == "CH" and zurich.kgco2e_per_kwh < 0.05


def test_no_region_gets_a_silent_global_average() -> None:
    grid = _data("ccf_coefficients.json")["grid_tco2e_per_kwh"]["by_region"]
    for region in carbon.known_regions():
        factor = carbon.grid_factor(region)
        if region in grid:
            assert factor.basis == "region" and factor.note is None
            continue
        assert factor.estimated and factor.note and region in factor.note, region
        assert factor.country, region  # every SageMaker region has its country in regions.json
        if factor.basis == "average":
            assert factor.country in factor.note


def test_compare_regions_lowest_first_and_residency_filter() -> None:
    eu = carbon.compare_regions("ml.g5.xlarge", hours=10, residency="eu")
    assert eu.residency == "EU" and eu.offered_basis == "assumed"
    names = [line.region for line in eu.regions]
    assert set(names) <= set(carbon.residency_groups()["EU"]) and "eu-west-2" not in names
    assert names[0] == "eu-north-1"
    assert [line.kgco2e for line in eu.regions] == sorted(line.kgco2e for line in eu.regions)
    assert {line.kwh for line in eu.regions} == {eu.regions[0].kwh}  # same job everywhere
    assert any("assumed offered" in note for note in eu.notes)
    everywhere = carbon.compare_regions("ml.g5.xlarge", hours=10)
    assert len(everywhere.regions) > len(eu.regions)
    with pytest.raises(carbon.UnknownResidency):
        carbon.compare_regions("ml.g5.xlarge", hours=1, residency="mars")


def test_compare_regions_keeps_to_regions_offering_the_family() -> None:
    listed = carbon.compare_regions("ml.trn2.48xlarge", hours=1)
    assert listed.offered_basis == "listed" and [line.region for line in listed.regions] == ["us-east-2"]
    assert carbon.compare_regions("ml.trn2.48xlarge", hours=1, residency="EU").regions == []
    policy = carbon.compare_regions("ml.trn2.48xlarge", hours=1, offered={"trn2": ["eu-north-1", "us-east-2"]})
    assert policy.offered_basis == "policy" and policy.regions[0].region == "eu-north-1"


def test_an_unpriced_type_is_judged_for_idleness_and_carbon_and_only_usd_is_unknown() -> None:
    now = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
    job = TrainingJobSnapshot(
        name="g6", arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/g6", status="InProgress",
        instance_type="ml.g6.xlarge", instance_count=1, start_time=now - timedelta(hours=2),
        elapsed_seconds=7200, account="123456789012", region="us-east-1")
    stamps = [now - timedelta(seconds=s) for s in range(0, 3600, 300)]
    hosts = [HostUtilization(host="g6/algo-1", metric="GPUUtilization", timestamps=stamps, values=[0.0] * len(stamps))]
    policy = TrainingPolicy(mode=Mode.ENFORCE, idle=IdleRule(window_minutes=60, warmup_minutes=30))
    decision = decide(job, hosts, policy, now, None)  # no price for ml.g6.xlarge in the price table
    assert decision.action == "stop" and decision.figures["idle"]["state"] == "idle"
    assert decision.figures["avoided_kgco2e"] and decision.figures["avoided_kgco2e"] > 0
    assert decision.figures["avoided_usd"] is None and "price_error" in decision.figures
