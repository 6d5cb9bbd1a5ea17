"""The carbon and storage policies on in-memory ports (no moto): the card store, the bus, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from greenrail.decision import Decision, Mode
from greenrail.flows import settle
from greenrail.policies import carbon, storage
from greenrail.policies.carbon import CarbonPolicy, Utilization
from greenrail.policies.storage import StoragePolicy
from tests.fakes import InMemoryBus, InMemoryCards, InMemoryOnce

END = datetime(2026, 11, 1, 12, tzinfo=UTC)


def job(name: str = "churn-1", status: str = "Completed") -> dict[str, Any]:
    return {
        "TrainingJobName": name, "TrainingJobStatus": status,
        "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{name}",
        "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1},
        "TrainingStartTime": END - timedelta(hours=2), "TrainingEndTime": END, "BillableTimeInSeconds": 7200,
        "ModelArtifacts": {"S3ModelArtifacts": artifacts(name)},
    }


def artifacts(name: str) -> str:
    return f"s3://ml-out/{name}/output/model.tar.gz"


def record(cards: InMemoryCards, mode: Mode = Mode.ENFORCE, tags: dict[str, str] | None = None,
           **policy: Any) -> Decision | None:
    return carbon.record_training_job(
        job(), tags or {}, Utilization(cpu=0.4, gpu=0.8), CarbonPolicy(mode=mode, **policy),
        account="123456789012", region="eu-west-1", cards=cards,
    )


class TestCarbonOnTheCardPort:
    def test_an_untagged_job_gets_a_draft_card_with_its_record(self) -> None:
        cards = InMemoryCards()
        decision = record(cards)
        assert decision is not None and decision.applied and decision.target == {"model_card": "greenrail-churn-1"}
        content = cards.content("greenrail-churn-1")
        details = content["additional_information"]["custom_details"]
        assert float(details["greenrail_carbon_emissions_kgco2e"]) == pytest.approx(decision.figures["kgco2e"], rel=1e-6)
        assert cards.tags["greenrail-churn-1"]["greenrail:training-job"] == "churn-1"

    def test_a_tagged_card_gets_a_new_version_and_keeps_its_content(self) -> None:
        cards = InMemoryCards()
        cards.add_model("churn-model-v1", artifacts("churn-1"))  # the card's model is the job's output
        cards.add("churn-model", {"model_overview": {"model_description": "churn", "model_name": "churn-model-v1"}})
        decision = record(cards, tags={"greenrail:model-card": "churn-model"})
        assert decision is not None and decision.applied
        assert [v.version for v in cards.versions["churn-model"]] == [1, 2]
        assert cards.content("churn-model")["model_overview"] == {
            "model_description": "churn", "model_name": "churn-model-v1"}
        again = record(cards, tags={"greenrail:model-card": "churn-model"})  # the same record: no new version
        assert again is not None and not again.applied and len(cards.versions["churn-model"]) == 2

    @pytest.mark.parametrize("status", ["Approved", "Archived"])
    def test_read_only_cards_are_never_written(self, status: str) -> None:
        cards = InMemoryCards()
        cards.add("churn-model", {}, status=status)
        decision = record(cards, tags={"greenrail:model-card": "churn-model"})
        assert decision is not None and not decision.applied and status in decision.reason
        assert len(cards.versions["churn-model"]) == 1

    def test_a_pending_review_card_is_never_written(self) -> None:
        cards = InMemoryCards()
        cards.add_model("churn-model-v1", artifacts("churn-1"))
        cards.add("churn-model", {"model_overview": {"model_name": "churn-model-v1"}}, status="PendingReview",
                  tags={"greenrail:managed": "true", "greenrail:training-job": "churn-1"})
        decision = record(cards, tags={"greenrail:model-card": "churn-model"})
        assert decision is not None and not decision.applied and decision.action == "publish-carbon-record"
        assert decision.reason == "model card churn-model is PendingReview: left unchanged"
        assert len(cards.versions["churn-model"]) == 1

    def test_another_teams_draft_card_is_never_written(self) -> None:
        cards = InMemoryCards()
        cards.add_model("fraud-model-v3", "s3://fraud-team/fraud-7/output/model.tar.gz")
        cards.add("fraud-model", {"model_overview": {"model_name": "fraud-model-v3"}}, tags={"team": "fraud"})
        cards.add("greenrail-other", {}, tags={"greenrail:managed": "true", "greenrail:training-job": "other"})
        for card in ("fraud-model", "greenrail-other"):
            decision = record(cards, tags={"greenrail:model-card": card})
            assert decision is not None and not decision.applied and decision.action == "publish-carbon-record"
            assert decision.reason == (
                f"model card {card} does not belong to job churn-1 (not created by Greenrail for it, "
                "and its model is not the job's output): left unchanged")
            assert len(cards.versions[card]) == 1
        dry = record(cards, mode=Mode.DRY_RUN, tags={"greenrail:model-card": "fraud-model"})
        assert dry is not None and "does not belong" in dry.reason  # dry-run says it would not write either

    def test_a_draft_greenrail_created_for_the_job_is_written(self) -> None:
        cards = InMemoryCards()
        cards.add("greenrail-churn-1", {"model_overview": {"model_description": "from an earlier run"}},
                  tags={"greenrail:managed": "true", "greenrail:training-job": "churn-1"})
        decision = record(cards)
        assert decision is not None and decision.applied
        assert [v.version for v in cards.versions["greenrail-churn-1"]] == [1, 2]
        content = cards.content("greenrail-churn-1")
        assert "greenrail_carbon_energy_kwh" in content["additional_information"]["custom_details"]
        assert content["model_overview"] == {"model_description": "from an earlier run"}

    def test_a_card_whose_model_package_is_the_jobs_output_is_written(self) -> None:
        cards = InMemoryCards()
        package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3"
        cards.add_model_package(package, artifacts("churn-1"))
        cards.add("churn-model", {"model_overview": {"model_id": package}})
        decision = record(cards, tags={"greenrail:model-card": "churn-model"})
        assert decision is not None and decision.applied and len(cards.versions["churn-model"]) == 2
        # a model package in another account is not looked up, even under the same name
        cards.add("elsewhere", {"model_overview": {"model_id": package.replace("123456789012", "999988887777")}})
        other = record(cards, tags={"greenrail:model-card": "elsewhere"})
        assert other is not None and not other.applied and "does not belong" in other.reason

    def test_dry_run_and_exempt_jobs_write_nothing(self) -> None:
        cards = InMemoryCards()
        dry = record(cards, mode=Mode.DRY_RUN)
        assert dry is not None and not dry.applied and cards.versions == {}
        exempt = record(cards, tags={"greenrail:exempt": "true"})
        assert exempt is not None and exempt.action == "none" and cards.versions == {}

    def test_an_unfinished_job_or_a_policy_off_has_no_record(self) -> None:
        cards = InMemoryCards()
        assert carbon.record_training_job(job(status="InProgress"), {}, Utilization(), CarbonPolicy(mode=Mode.ENFORCE),
                                          account="123456789012", region="eu-west-1", cards=cards) is None
        assert record(cards, mode=Mode.OFF) is None and cards.versions == {}


def tag_decision(mode: Mode = Mode.ENFORCE) -> Decision:
    obj = storage.StorageObject("ml-data", "datasets/train/part-0.parquet", 50 * 1024**2, "etag-1")
    return storage.decide(obj, storage.Bucket("ml-data"), StoragePolicy(mode=mode), "123456789012", "eu-west-1")


class TestSettleOnTheBusAndIdempotencyPorts:
    SUBJECT = {"bucket": "ml-data", "key": "datasets/train/part-0.parquet", "etag": "etag-1"}

    def test_applied_and_announced_once_however_often_it_is_delivered(self) -> None:
        bus, once, acted = InMemoryBus(), InMemoryOnce(), []
        decision = tag_decision()
        assert decision.action == "tag"

        def act(d: Decision) -> Decision:
            acted.append(d)
            return d.model_copy(update={"applied": True, "compliant": True})

        outcomes = [settle(decision, self.SUBJECT, act, once, bus) for _ in range(3)]
        assert len(acted) == 1 and len(bus.decisions) == 1 and all(o.applied for o in outcomes)

    def test_a_failed_announcement_is_retried_without_acting_again(self) -> None:
        bus, once, acted = InMemoryBus(fail_times=1), InMemoryOnce(), []

        def act(d: Decision) -> Decision:
            acted.append(d)
            return d.model_copy(update={"applied": True})

        with pytest.raises(RuntimeError):
            settle(tag_decision(), self.SUBJECT, act, once, bus)
        settle(tag_decision(), self.SUBJECT, act, once, bus)  # the retry
        assert len(acted) == 1 and len(bus.decisions) == 1 and bus.decisions[0].applied

    def test_a_decision_held_back_by_the_blast_radius_is_not_remembered(self) -> None:
        bus, once = InMemoryBus(), InMemoryOnce()
        held = settle(tag_decision(), self.SUBJECT, lambda d: d.model_copy(update={"held_back": True}), once, bus)
        assert held.held_back and not held.applied
        done = settle(tag_decision(), self.SUBJECT, lambda d: d.model_copy(update={"applied": True}), once, bus)
        assert done.applied  # tried again, and this time applied
        assert [d.held_back for d in bus.decisions] == [True, False]

    def test_a_compliant_object_is_not_announced(self) -> None:
        obj = storage.StorageObject("ml-data", "datasets/train/tiny.csv", 10, "e")
        decision = storage.decide(obj, storage.Bucket("ml-data"), StoragePolicy(), "123456789012", "eu-west-1")
        bus = InMemoryBus()
        assert settle(decision, self.SUBJECT, lambda d: d, InMemoryOnce(), bus).action == "none"
        assert bus.decisions == []
