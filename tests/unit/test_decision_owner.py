"""A resource's owner (its ``greenrail:owner`` tag) rides on every policy's decisions, so the
digests (greenrail.digest) can route them to that owner: storage (object, then bucket: see
tests/integration/test_digest.py), training and tuning jobs, endpoints, notebooks (the resource,
then an app's space or user profile, then the domain)."""

from __future__ import annotations

from datetime import timedelta

from greenrail.config import OWNER_TAG_KEY
from greenrail.decision import Mode
from greenrail.policies.notebooks import decide as decide_notebook
from greenrail.policies.training import TrainingPolicy
from greenrail.training_tuning import TuningSnapshot
from greenrail.training_tuning import decide as decide_tuning
from tests.unit.test_endpoints_rules import POLICY as ENDPOINTS
from tests.unit.test_endpoints_rules import rec, variant
from tests.unit.test_notebooks_rules import ENFORCE, TUESDAY_10, app, notebook
from tests.unit.test_training_rules import NOW, job, run, series

OWNED = {OWNER_TAG_KEY: "team-vision"}


def test_a_training_job_decision_carries_its_owner() -> None:
    assert run(job(tags=OWNED), [series("job/algo-1", 1.0)]).owner == "team-vision"
    assert run(job(), [series("job/algo-1", 1.0)]).owner is None


def test_a_tuning_job_decision_carries_its_owner() -> None:
    tuning = TuningSnapshot(name="hpo", arn="arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/hpo",
                            status="InProgress", tags=OWNED, account="123456789012", region="us-east-1")
    assert decide_tuning(tuning, [], False, TrainingPolicy(mode=Mode.ENFORCE), NOW).owner == "team-vision"


def test_an_endpoint_decision_carries_its_owner() -> None:
    owned = variant([rec("ml.m5.xlarge")], tags=OWNED)
    assert ENDPOINTS.mode and decide_endpoint(owned).owner == "team-vision"
    assert decide_endpoint(variant([rec("ml.m5.xlarge")])).owner is None


def decide_endpoint(v: object) -> object:
    from greenrail.policies.endpoints import decide

    return decide(v, ENDPOINTS)  # type: ignore[arg-type]


def test_a_notebook_decision_carries_its_owner_or_its_space_or_domain() -> None:
    assert decide_notebook(notebook(tags=OWNED), ENFORCE, TUESDAY_10).owner == "team-vision"
    idle = TUESDAY_10 - timedelta(hours=4)
    assert decide_notebook(app(idle, owner_tags=OWNED), ENFORCE, TUESDAY_10).owner == "team-vision"
    assert decide_notebook(app(idle, domain_tags=OWNED), ENFORCE, TUESDAY_10).owner == "team-vision"
    assert decide_notebook(app(idle), ENFORCE, TUESDAY_10).owner is None
