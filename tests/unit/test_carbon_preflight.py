"""The carbon policy's pre-flight estimate and the Model Card record's interoperability keys
(Hugging Face ``co2_eq_emissions``) and region comparison, on in-memory ports (no moto)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from greenrail import carbon as model
from greenrail.decision import Mode
from greenrail.policies import carbon
from greenrail.policies.carbon import CarbonPolicy, StartingJob, Utilization
from tests.conftest import ROOT
from tests.fakes import InMemoryCards

END = datetime(2026, 11, 1, 12, tzinfo=UTC)
SAMPLE = json.loads((ROOT / "events" / "sagemaker-training-job-inprogress.json").read_text())["detail"]
HF_KEYS = {"emissions", "source", "training_type", "geographical_location", "hardware_used"}


def finished(instance_type: str = "ml.g5.xlarge", count: int = 2) -> dict[str, Any]:
    return {
        "TrainingJobName": "churn-1", "TrainingJobStatus": "Completed",
        "TrainingJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/churn-1",
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": count},
        "TrainingStartTime": END - timedelta(hours=2), "TrainingEndTime": END, "BillableTimeInSeconds": 7200,
    }


def preflight(detail: dict[str, Any] | None = None, **policy: Any) -> Any:
    started = StartingJob.model_validate(detail or SAMPLE)
    return carbon.preflight_training_job(started, CarbonPolicy(mode=Mode.DRY_RUN, **policy),
                                         account="123456789012", region="us-east-1", event_id="e-1")


def test_the_card_carries_hugging_face_co2_eq_emissions_and_the_greener_regions() -> None:
    cards = InMemoryCards()
    policy = CarbonPolicy(mode=Mode.ENFORCE, preflight={"residency": "EU", "regions_shown": 2})
    decision = carbon.record_training_job(finished(), {"greenrail:training-type": "fine-tuning"},
                                          Utilization(cpu=0.4, gpu=0.8), policy, account="123456789012",
                                          region="eu-west-1", cards=cards)
    assert decision is not None and decision.applied
    details = cards.content("greenrail-churn-1")["additional_information"]["custom_details"]
    hf = {key[len(carbon.HF_PREFIX):]: value for key, value in details.items() if key.startswith(carbon.HF_PREFIX)}
    assert set(hf) == HF_KEYS and all(isinstance(v, str) and len(v) <= 1024 for v in details.values())
    assert float(hf["emissions"]) == pytest.approx(decision.figures["kgco2e"] * 1000, rel=1e-5)  # grams
    assert hf["training_type"] == "fine-tuning" and hf["geographical_location"] == "AWS eu-west-1 (IE)"
    assert hf["hardware_used"] == "2 x ml.g5.xlarge (1 x A10G each)" and "cloud-carbon-footprint" in hf["source"]
    greener = decision.figures["greener_regions"]
    assert [r["region"] for r in greener] == ["eu-north-1", "eu-west-3"]
    assert details["greenrail_carbon_greener_regions"].startswith(
        "same job, lowest-carbon regions offering ml.g5.xlarge within EU: eu-north-1 ")


def test_the_preflight_is_the_upper_bound_with_the_greenest_regions() -> None:
    decision = preflight(preflight={"regions_shown": 3})
    assert decision.action == "estimate-carbon" and decision.severity == "INFORMATIONAL" and not decision.compliant
    upper = model.estimate("ml.g5.12xlarge", 48, "us-east-1", count=2)  # MaxRuntimeInSeconds 172,800 s
    bound = decision.figures["upper_bound"]
    assert bound["kwh"] == pytest.approx(upper.kwh) and bound["kgco2e"] == pytest.approx(upper.kgco2e)
    assert decision.figures["estimated"] is True and "kgco2e" not in decision.figures  # a bound, not an emission
    assert "utilization not measured before the job runs: assumed 0.5" in decision.figures["notes"]
    regions = [r["region"] for r in decision.figures["greener_regions"]]
    assert len(regions) == 3 and regions[0] == "eu-north-1" and decision.target == {"regions": regions}


def test_residency_keeps_the_comparison_in_its_group() -> None:
    decision = preflight(preflight={"residency": "US", "regions_shown": 10})
    regions = [r["region"] for r in decision.figures["greener_regions"]]
    assert regions and set(regions) <= {"us-east-1", "us-east-2", "us-west-1", "us-west-2"}
    assert regions[0] in ("us-west-1", "us-west-2")  # WECC is the lowest US factor in CCF


def test_no_max_runtime_means_sagemakers_default_of_one_day() -> None:
    detail = copy.deepcopy(SAMPLE)
    del detail["StoppingCondition"]
    assert preflight(detail).figures["max_runtime_hours"] == 24


def test_an_unknown_type_is_an_error_decision_and_off_or_exempt_is_none() -> None:
    detail = copy.deepcopy(SAMPLE)
    detail["ResourceConfig"]["InstanceType"] = "ml.zz9.huge"
    failed = preflight(detail)
    assert "unknown instance type" in failed.figures["error"] and failed.reason.startswith("pre-flight carbon not")
    assert preflight(preflight={"enabled": False}) is None
    exempt = copy.deepcopy(SAMPLE)
    exempt["Tags"]["greenrail:exempt"] = "true"
    assert preflight(exempt) is None
    started = StartingJob.model_validate(SAMPLE)
    assert carbon.preflight_training_job(started, CarbonPolicy(mode=Mode.OFF), account="1", region="us-east-1") is None


def test_a_future_instance_type_still_gets_a_flagged_preflight() -> None:
    detail = copy.deepcopy(SAMPLE)
    detail["ResourceConfig"]["InstanceType"] = "ml.g6.96xlarge"  # judged by the g6 family
    decision = preflight(detail)
    assert "error" not in decision.figures and decision.figures["estimated"] is True
    assert any("judged by its family" in note for note in decision.figures["notes"])
