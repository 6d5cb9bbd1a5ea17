"""The notebooks policy's rules at their edges (pure: snapshots in, decisions out; no moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from greenrail.decision import Mode
from greenrail.document import PolicyDocument
from greenrail.flows.notebooks import evaluate
from greenrail.policies.notebooks import (
    AppSnapshot,
    DomainSnapshot,
    IdleSettings,
    NotebookSnapshot,
    NotebooksPolicy,
    SpaceSnapshot,
    UserProfileSnapshot,
    WorkingHours,
    auto_stops,
    capped,
    decide,
    parse_working_hours,
)
from greenrail.sagemaker_facts import is_accelerated
from tests.fakes import InMemoryBus, InMemoryOnce

ACCOUNT, REGION = "123456789012", "us-east-1"
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
# Tuesday 1 December 2026, 10:00 UTC
TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ENFORCE = NotebooksPolicy(mode=Mode.ENFORCE)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ---------------------------------------------------------------- working hours
@pytest.mark.parametrize(("moment", "working"), [
    ("2026-12-01T07:59:59+00:00", False),  # a second before the start
    ("2026-12-01T08:00:00+00:00", True),  # the start is in
    ("2026-12-01T18:59:59+00:00", True),
    ("2026-12-01T19:00:00+00:00", False),  # the end is out
    ("2026-12-01T00:00:00+00:00", False),  # midnight
    ("2026-12-05T12:00:00+00:00", False),  # a Saturday
    ("2026-12-04T18:30:00+00:00", True),  # Friday evening, still in
])
def test_default_working_hours_at_their_edges(moment: str, working: bool) -> None:
    assert WorkingHours().is_working(utc(moment)) is working


def test_friday_night_waits_for_monday_morning() -> None:
    friday_night = utc("2026-12-04T23:00:00+00:00")
    assert WorkingHours().next_start(friday_night) == utc("2026-12-07T08:00:00+00:00")


def test_hours_across_midnight_belong_to_the_start_day() -> None:
    night_shift = WorkingHours(start="22:00", end="06:00", days=["mon"])
    assert night_shift.is_working(utc("2026-11-30T23:30:00+00:00"))  # Monday 23:30
    assert night_shift.is_working(utc("2026-12-01T05:59:00+00:00"))  # Tuesday 05:59, Monday's shift
    assert not night_shift.is_working(utc("2026-12-01T22:30:00+00:00"))  # Tuesday: no shift
    whole_day = WorkingHours(start="00:00", end="24:00", days=["tue"])
    assert whole_day.is_working(utc("2026-12-01T00:00:00+00:00"))
    assert whole_day.is_working(utc("2026-12-01T23:59:59+00:00"))
    assert not whole_day.is_working(utc("2026-12-02T00:00:00+00:00"))


def test_berlin_hours_follow_daylight_saving() -> None:
    berlin = WorkingHours(timezone="Europe/Berlin", days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    # 08:00 in Berlin is 06:00 UTC in summer (CEST, +2) and 07:00 UTC in winter (CET, +1)
    assert berlin.is_working(utc("2026-07-01T06:00:00+00:00"))
    assert not berlin.is_working(utc("2026-12-01T06:30:00+00:00"))
    assert berlin.is_working(utc("2026-12-01T07:00:00+00:00"))
    # the night the clocks go forward (Sunday 29 March 2026, 02:00 -> 03:00): the next start is
    # 08:00 CEST, 06:00 UTC, not 07:00 UTC
    assert berlin.next_start(utc("2026-03-29T01:30:00+00:00")) == utc("2026-03-29T06:00:00+00:00")
    # and back (Sunday 25 October 2026, 03:00 -> 02:00): 08:00 CET, 07:00 UTC
    assert berlin.next_start(utc("2026-10-25T01:30:00+00:00")) == utc("2026-10-25T07:00:00+00:00")


def test_hours_on_the_nights_the_clocks_change() -> None:
    """A night shift across the change is an hour shorter (spring) or longer (autumn) in UTC; a
    start in the skipped hour begins when the clock reaches it (03:30 CEST), one in the repeated
    hour at its first occurrence."""
    night = WorkingHours(start="22:00", end="06:00", timezone="Europe/Berlin", days=["sat"])
    assert night.is_working(utc("2026-03-28T21:00:00+00:00")) and night.is_working(utc("2026-03-29T03:59:00+00:00"))
    assert not night.is_working(utc("2026-03-29T04:00:00+00:00"))  # 06:00 CEST: 7 hours after 22:00 CET
    assert night.is_working(utc("2026-10-25T04:59:00+00:00")) and not night.is_working(utc("2026-10-25T05:00:00+00:00"))
    skipped = WorkingHours(start="02:30", end="06:00", timezone="Europe/Berlin", days=["sun"])
    assert skipped.next_start(utc("2026-03-29T00:00:00+00:00")) == utc("2026-03-29T01:30:00+00:00")
    assert not skipped.is_working(utc("2026-03-29T01:29:00+00:00"))
    assert skipped.next_start(utc("2026-10-24T23:00:00+00:00")) == utc("2026-10-25T00:30:00+00:00")


def test_new_york_hours_follow_daylight_saving() -> None:
    new_york = WorkingHours(start="09:00", end="17:00", timezone="America/New_York")
    # Friday 6 March 2026 (EST, -5) ends at 22:00 UTC; Monday 9 March (EDT, -4) starts at 13:00 UTC
    assert new_york.is_working(utc("2026-03-06T21:59:00+00:00"))
    assert new_york.next_start(utc("2026-03-06T22:00:00+00:00")) == utc("2026-03-09T13:00:00+00:00")
    # the hour that exists twice (1 November 2026, 01:00-02:00 local) is a Sunday: not working
    assert not new_york.is_working(utc("2026-11-01T05:30:00+00:00"))
    assert not new_york.is_working(utc("2026-11-01T06:30:00+00:00"))


def test_a_time_zone_that_does_not_exist_is_a_policy_validation_error() -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        PolicyDocument(notebooks={"working_hours": {"timezone": "Europe/Atlantis"}})
    for zone in ("", "../../etc/passwd", "Europe/Berlin\x00", "x" * 300):
        with pytest.raises(ValidationError):
            NotebooksPolicy.model_validate({"working_hours": {"timezone": zone}})
    with pytest.raises(ValidationError, match="HH:MM"):
        NotebooksPolicy.model_validate({"working_hours": {"start": "8am"}})
    with pytest.raises(ValidationError, match="same time"):
        NotebooksPolicy.model_validate({"working_hours": {"start": "08:00", "end": "08:00"}})
    with pytest.raises(ValidationError):
        NotebooksPolicy.model_validate({"working_hours": {"days": ["monday"]}})


def test_the_policy_fields_and_their_bounds() -> None:
    policy = NotebooksPolicy()
    assert (policy.mode, policy.max_idle_timeout_minutes, policy.idle_minutes, policy.allow_gpu_default,
            policy.default_instance_type, policy.working_hours_tag_key) == (
        Mode.DRY_RUN, 120, 180, False, "ml.t3.medium", "greenrail:working-hours")
    for bad in ({"max_idle_timeout_minutes": 59}, {"max_idle_timeout_minutes": 525_601},
                {"default_instance_type": "ml.g5.xlarge"},  # a GPU default contradicts the rule
                {"price_overrides_usd_per_hour": {"ml.g5.xlarge": -1}}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            NotebooksPolicy.model_validate(bad)


@pytest.mark.parametrize(("tag", "label"), [
    ("07:00-15:00 America/New_York mon-thu", "07:00-15:00 America/New_York mon+tue+wed+thu"),
    ("09:00-17:00 Asia/Tokyo sat+sun", "09:00-17:00 Asia/Tokyo sat+sun"),
    ("22:00-06:00 UTC fri-mon", "22:00-06:00 UTC mon+fri+sat+sun"),
    ("08:00-19:00 Europe/Berlin", "08:00-19:00 Europe/Berlin mon+tue+wed+thu+fri"),
    ("always", "00:00-24:00 UTC mon+tue+wed+thu+fri+sat+sun"),
])
def test_working_hours_tag_values(tag: str, label: str) -> None:
    assert parse_working_hours(tag).label() == label


@pytest.mark.parametrize("tag", ["", "8-5", "08:00-19:00 Mars/Olympus", "08:00-19:00 UTC mon-xyz", "08:00 UTC"])
def test_bad_working_hours_tags_are_refused(tag: str) -> None:
    with pytest.raises(ValueError):
        parse_working_hours(tag)


# ---------------------------------------------------------------- notebook instances
def notebook(status: str = "InService", tags: dict[str, str] | None = None, auto_stop: bool | None = True,
             instance_type: str = "ml.g5.xlarge") -> NotebookSnapshot:
    return NotebookSnapshot(name="nb", arn=f"{ARN}:notebook-instance/nb", account=ACCOUNT, region=REGION,
                            status=status, instance_type=instance_type, lifecycle_config="auto-stop" if auto_stop else None,
                            auto_stop=auto_stop, tags=tags or {})


def test_a_notebook_instance_at_night_is_stopped_with_its_savings() -> None:
    night = utc("2026-12-01T23:00:00+00:00")  # Tuesday 23:00 UTC: next start Wednesday 08:00, 9 h
    decision = decide(notebook(), ENFORCE, night)
    assert decision.action == "stop" and decision.figures["hours_avoided"] == 9.0
    assert decision.savings.usd_per_month == pytest.approx(9 * decision.figures["usd_per_hour"], abs=1e-3)
    assert decision.savings.kgco2e_per_month > 0
    assert decide(notebook(), ENFORCE, TUESDAY_10).action == "none"


@pytest.mark.parametrize("status", ["Stopping", "Stopped", "Updating", "Pending", "Failed"])
def test_a_notebook_instance_not_in_service_is_left_alone(status: str) -> None:
    decision = decide(notebook(status), ENFORCE, utc("2026-12-01T23:00:00+00:00"))
    assert decision.action == "none" and decision.status == status


def test_the_working_hours_tag_overrides_the_policy() -> None:
    night_utc = utc("2026-12-01T23:00:00+00:00")  # 08:00 in Tokyo on Wednesday
    tokyo = notebook(tags={"greenrail:working-hours": "08:00-19:00 Asia/Tokyo mon-fri"})
    assert decide(tokyo, ENFORCE, night_utc).action == "none"
    assert "tag greenrail:working-hours" in decide(tokyo, ENFORCE, night_utc).figures["working_hours_source"]
    broken = notebook(tags={"greenrail:working-hours": "nine to five"})
    decision = decide(broken, ENFORCE, night_utc)
    assert decision.action == "stop" and "ignored" in decision.figures["working_hours_source"]


def test_no_auto_stop_configuration_is_a_recommendation_in_working_hours() -> None:
    assert decide(notebook(auto_stop=False), ENFORCE, TUESDAY_10).action == "recommend-auto-stop"
    assert decide(notebook(auto_stop=None), ENFORCE, TUESDAY_10).action == "none"  # unreadable: no claim
    assert auto_stops(["IyEvYmluL2Jhc2gKcHl0aG9uMyBhdXRvc3RvcC5weSAtLXRpbWUgMzYwMA=="])  # "... autostop.py --time 3600"
    assert not auto_stops(["IyEvYmluL2Jhc2gKcGlwIGluc3RhbGwgcGFuZGFz"])  # "pip install pandas"


# ---------------------------------------------------------------- apps
def app(last_activity: datetime | None, created: datetime | None = None, status: str = "InService",
        instance_type: str = "ml.g5.xlarge", name: str = "default", **kwargs: Any) -> AppSnapshot:
    return AppSnapshot(domain_id="d-1", app_type=kwargs.pop("app_type", "JupyterLab"), name=name,
                       arn=f"{ARN}:app/d-1/lab/jupyterlab/{name}", account=ACCOUNT, region=REGION, space_name="lab",
                       status=status, instance_type=instance_type, last_activity=last_activity,
                       created=created or TUESDAY_10 - timedelta(days=1), **kwargs)


def test_an_app_idle_past_the_threshold_is_deleted_and_not_before() -> None:
    assert decide(app(TUESDAY_10 - timedelta(minutes=180)), ENFORCE, TUESDAY_10).action == "delete-app"
    assert decide(app(TUESDAY_10 - timedelta(minutes=179, seconds=59)), ENFORCE, TUESDAY_10).action == "none"
    # during working hours the savings count one more idle period (180 min)
    assert decide(app(TUESDAY_10 - timedelta(hours=4)), ENFORCE, TUESDAY_10).figures["hours_avoided"] == 3.0


def test_missing_activity_counts_from_creation_pending_included() -> None:
    never_used = app(None, created=TUESDAY_10 - timedelta(hours=5))
    decision = decide(never_used, ENFORCE, TUESDAY_10)
    assert decision.action == "delete-app" and "no user activity" in decision.reason
    stuck = app(None, created=TUESDAY_10 - timedelta(hours=4), status="Pending")
    assert decide(stuck, ENFORCE, TUESDAY_10).action == "delete-app"
    starting = app(None, created=TUESDAY_10 - timedelta(minutes=5), status="Pending")
    assert decide(starting, ENFORCE, TUESDAY_10).action == "none"
    no_times = app(None).model_copy(update={"created": None})
    assert decide(no_times, ENFORCE, TUESDAY_10).action == "none"
    future = app(TUESDAY_10 + timedelta(hours=1))  # clock skew: activity "in the future" is activity now
    assert decide(future, ENFORCE, TUESDAY_10).action == "none"


@pytest.mark.parametrize("status", ["Deleting", "Deleted", "Failed"])
def test_apps_not_running_are_left_alone(status: str) -> None:
    assert decide(app(None, status=status), ENFORCE, TUESDAY_10).action == "none"


def test_system_instances_and_ungoverned_app_types_are_left_alone() -> None:
    long_ago = TUESDAY_10 - timedelta(days=3)
    assert decide(app(long_ago, instance_type="system"), ENFORCE, TUESDAY_10).action == "none"
    assert decide(app(long_ago, app_type="JupyterServer"), ENFORCE, TUESDAY_10).action == "none"


def test_exemption_on_the_app_its_space_or_its_domain() -> None:
    long_ago = TUESDAY_10 - timedelta(days=3)
    exempt = {"greenrail:exempt": "true"}
    for where in ("tags", "owner_tags", "domain_tags"):
        decision = decide(app(long_ago, **{where: exempt}), ENFORCE, TUESDAY_10)
        assert decision.action == "none" and "exempt" in decision.reason, where
    assert decide(app(long_ago, domain_tags={"greenrail:exempt": "false"}), ENFORCE, TUESDAY_10).action == "delete-app"


class Slots:
    """A blast radius of ``cap`` actions (the state table's, in memory)."""

    def __init__(self, cap: int = 100) -> None:
        self.cap, self.taken = cap, set[str]()

    def acquire(self, subject: str) -> bool:
        if subject not in self.taken and len(self.taken) >= self.cap:
            return False
        self.taken.add(subject)
        return True


@pytest.fixture
def acted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The resources (and states) the policy's AWS calls were made for, instead of making them."""
    import greenrail.policies.notebooks as module

    done: list[str] = []

    def act(decision: Any, resource: Any, policy: Any) -> None:
        done.append(f"{resource.name}@{resource.state() if hasattr(resource, 'state') else ''}")

    monkeypatch.setattr(module, "_act", act)
    return done


def test_gpu_apps_are_acted_on_first(acted: list[str]) -> None:
    long_ago = TUESDAY_10 - timedelta(days=1)
    cpu = [app(long_ago, instance_type="ml.m5.large", name=f"cpu-{i}") for i in range(3)]
    gpu = app(long_ago, instance_type="ml.g5.xlarge", name="gpu")
    geo = app(long_ago, instance_type="ml.geospatial.interactive", name="geo")
    decisions = evaluate([*cpu, geo, gpu], ENFORCE, Mode.ENFORCE, TUESDAY_10, InMemoryOnce(), InMemoryBus(),
                         blast=Slots(cap=1))  # type: ignore[arg-type]
    assert [d.figures["accelerated"] for d in decisions] == [True, False, False, False, False]
    assert decisions[0].applied and all(d.held_back and not d.applied for d in decisions[1:])
    assert [name.split("@")[0] for name in acted] == ["gpu"]


def test_accelerators_come_from_the_catalog_not_the_name() -> None:
    assert not is_accelerated("ml.geospatial.interactive")
    assert is_accelerated("ml.g5.xlarge") and is_accelerated("ml.trn1.2xlarge") and is_accelerated("ml.inf2.xlarge")
    assert not is_accelerated("ml.t3.medium") and not is_accelerated("system") and not is_accelerated("ml.c5.large")


# ---------------------------------------------------------------- spaces
def space(instance_type: str | None, **kwargs: Any) -> SpaceSnapshot:
    settings = {"JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": instance_type}}} if instance_type else {}
    return SpaceSnapshot(domain_id="d-1", name="lab", arn=f"{ARN}:space/d-1/lab", account=ACCOUNT, region=REGION,
                         status="InService", settings=settings, **kwargs)


def test_a_gpu_default_space_gets_the_cpu_default() -> None:
    decision = decide(space("ml.g5.2xlarge"), ENFORCE, TUESDAY_10)
    assert decision.action == "set-default-instance" and decision.target == {"instance_type": "ml.t3.medium"}
    assert decide(space("ml.geospatial.interactive"), ENFORCE, TUESDAY_10).action == "none"
    assert decide(space("ml.t3.medium"), ENFORCE, TUESDAY_10).action == "none"
    assert decide(space(None), ENFORCE, TUESDAY_10).action == "none"
    allowed = ENFORCE.model_copy(update={"allow_gpu_default": True})
    assert decide(space("ml.g5.2xlarge"), allowed, TUESDAY_10).action == "none"
    assert decide(space("ml.g5.2xlarge", domain_tags={"greenrail:exempt": "true"}), ENFORCE, TUESDAY_10).action == "none"


# ---------------------------------------------------------------- domains and user profiles
def idle(**values: Any) -> dict[str, Any]:
    return {"AppLifecycleManagement": {"IdleSettings": values}}


def domain(settings: dict[str, Any], **kwargs: Any) -> DomainSnapshot:
    return DomainSnapshot(domain_id="d-1", name="research", arn=f"{ARN}:domain/d-1", account=ACCOUNT, region=REGION,
                          status="InService", settings=settings, **kwargs)


COMPLIANT = idle(LifecycleManagement="ENABLED", IdleTimeoutInMinutes=60, MaxIdleTimeoutInMinutes=120)


def test_a_domain_without_idle_shutdown_gets_it() -> None:
    decision = decide(domain({}), ENFORCE, TUESDAY_10)
    assert decision.action == "set-idle-shutdown" and decision.target == {"idle_timeout_minutes": 120}
    assert decision.figures["idle_settings"]["JupyterLabAppSettings"] == {
        "LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120, "MaxIdleTimeoutInMinutes": 120}
    both = {"JupyterLabAppSettings": COMPLIANT, "CodeEditorAppSettings": COMPLIANT}
    assert decide(domain(both), ENFORCE, TUESDAY_10).action == "none"
    # Code Editor too: one app without it is enough
    assert decide(domain({"JupyterLabAppSettings": COMPLIANT}), ENFORCE, TUESDAY_10).action == "set-idle-shutdown"
    raisable = {"JupyterLabAppSettings": idle(LifecycleManagement="ENABLED", IdleTimeoutInMinutes=60,
                                              MaxIdleTimeoutInMinutes=600), "CodeEditorAppSettings": COMPLIANT}
    decision = decide(domain(raisable), ENFORCE, TUESDAY_10)
    assert decision.action == "set-idle-shutdown" and "raise" in decision.reason
    assert decision.target == {"idle_timeout_minutes": 60}  # the domain's shorter timeout is kept
    assert decide(domain({}, tags={"greenrail:exempt": "true"}), ENFORCE, TUESDAY_10).action == "none"


def test_capping_changes_as_little_as_possible() -> None:
    assert capped(IdleSettings(lifecycle="DISABLED", idle_timeout=600, min_timeout=300, max_timeout=900), 120, True) \
        == IdleSettings(lifecycle="ENABLED", idle_timeout=120, min_timeout=60, max_timeout=120)
    assert capped(IdleSettings(idle_timeout=600), 120, False) == IdleSettings(idle_timeout=120)
    assert capped(IdleSettings(lifecycle="ENABLED", idle_timeout=90, min_timeout=60, max_timeout=100), 120, True) \
        == IdleSettings(lifecycle="ENABLED", idle_timeout=90, min_timeout=60, max_timeout=100)


def test_a_user_profile_is_governed_only_when_it_overrides_past_the_cap() -> None:
    def profile(settings: dict[str, Any], **kwargs: Any) -> UserProfileSnapshot:
        return UserProfileSnapshot(domain_id="d-1", name="ana", arn=f"{ARN}:user-profile/d-1/ana", account=ACCOUNT,
                                   region=REGION, status="InService", settings=settings, **kwargs)

    assert decide(profile({}), ENFORCE, TUESDAY_10).action == "none"  # inherits the domain's
    assert decide(profile({"JupyterLabAppSettings": idle(IdleTimeoutInMinutes=90)}), ENFORCE, TUESDAY_10).action == "none"
    decision = decide(profile({"JupyterLabAppSettings": idle(LifecycleManagement="DISABLED")}), ENFORCE, TUESDAY_10)
    assert decision.action == "set-idle-shutdown"
    assert decision.figures["idle_settings"] == {"JupyterLabAppSettings": {"LifecycleManagement": "ENABLED"}}
    exempt = profile({"JupyterLabAppSettings": idle(IdleTimeoutInMinutes=900)}, domain_tags={"greenrail:exempt": "true"})
    assert decide(exempt, ENFORCE, TUESDAY_10).action == "none"


def test_off_decides_nothing() -> None:
    off = NotebooksPolicy(mode=Mode.OFF)
    for resource in (domain({}), space("ml.g5.xlarge"), app(None), notebook()):
        assert decide(resource, off, utc("2026-12-01T23:00:00+00:00")).action == "none"


def test_the_same_idle_app_is_deleted_once_and_a_new_session_again(acted: list[str]) -> None:
    """The idempotency key is the app's ARN and its activity: two sweeps over the same idle app
    act once; the same app used again and idle again is a new state."""
    bus, once = InMemoryBus(), InMemoryOnce()
    idle_app = app(TUESDAY_10 - timedelta(hours=5))
    for _ in range(2):
        [decision] = evaluate([idle_app], ENFORCE, Mode.ENFORCE, TUESDAY_10, once, bus, blast=Slots())  # type: ignore[arg-type]
        assert decision.applied
    used_again = app(TUESDAY_10 + timedelta(hours=1))
    evaluate([used_again], ENFORCE, Mode.ENFORCE, TUESDAY_10 + timedelta(hours=5), once, bus, blast=Slots())  # type: ignore[arg-type]
    assert len(acted) == 2 and acted[0] != acted[1]
    assert [d.action for d in bus.decisions] == ["delete-app", "delete-app"]  # announced once per state


def test_dry_run_acts_on_nothing(acted: list[str]) -> None:
    everything = [domain({}), space("ml.g5.xlarge"), app(None), notebook()]
    dry = NotebooksPolicy()
    decisions = evaluate(everything, dry, Mode.DRY_RUN, utc("2026-12-01T23:00:00+00:00"), InMemoryOnce(),
                         InMemoryBus(), blast=Slots())  # type: ignore[arg-type]
    assert {d.action for d in decisions} == {"set-idle-shutdown", "set-default-instance", "delete-app", "stop"}
    assert acted == [] and not any(d.applied for d in decisions)


def test_member_accounts_forward_the_notebooks_events_and_only_those() -> None:
    import json

    from moto.events.models import EventPattern

    from greenrail_cli.emulator.deploy import load_template
    from tests.conftest import ROOT

    rule = load_template(ROOT / "org" / "member-account.yaml")["Resources"]["ForwardNotebooksRule"]
    pattern = EventPattern.load(json.dumps(rule["Properties"]["EventPattern"]))

    def sample(name: str) -> dict[str, Any]:
        return dict(json.loads((ROOT / "events" / name).read_text()))

    for name in ("sagemaker-notebook-instance-inservice.json", "cloudtrail-sagemaker-create-app.json",
                 "cloudtrail-sagemaker-update-domain.json"):
        assert pattern.matches_event(sample(name)), name
    for name in ("nearmiss/sagemaker-notebook-instance-stopped.json", "nearmiss/cloudtrail-sagemaker-delete-app.json",
                 "nearmiss/cloudtrail-sagemaker-create-app-failed.json", "sagemaker-training-job-inprogress.json"):
        assert not pattern.matches_event(sample(name)), name


def test_savings_are_price_times_hours_to_the_next_start_with_the_price_source() -> None:
    """A CPU notebook instance type the training price table lacks (ml.t3.medium): the policy's own
    price override, named as the source; kgCO2e from the carbon model either way."""
    night = utc("2026-12-04T23:00:00+00:00")  # Friday 23:00 UTC: the next start is Monday 08:00, 57 h
    unpriced = decide(notebook(instance_type="ml.t3.medium"), ENFORCE, night)
    assert unpriced.figures["hours_avoided"] == 57.0 and unpriced.figures["usd_avoided"] is None
    assert "price_overrides_usd_per_hour" in unpriced.figures["price_source"]
    assert unpriced.savings.kgco2e_per_month > 0
    priced = ENFORCE.model_copy(update={"price_overrides_usd_per_hour": {"ml.t3.medium": 0.05}})
    decision = decide(notebook(instance_type="ml.t3.medium"), priced, night)
    assert decision.figures["price_source"] == "policy notebooks.price_overrides_usd_per_hour"
    assert decision.figures["usd_avoided"] == decision.savings.usd_per_month == pytest.approx(57 * 0.05)
    assert decision.figures["savings_basis"].startswith("one-off")  # the report counts it once, not monthly


@pytest.mark.parametrize(("code", "message", "sorted_as"), [
    ("ValidationException", "App arn:...:app/d-1/lab/jupyterlab/default has already been deleted.", "NotFound"),
    ("ResourceNotFound", "App arn:... does not exist.", "NotFound"),
    ("ConflictException", "Domain d-1 is in status Updating", "Conflict"),
    ("ResourceInUse", "App arn:... is being deleted.", "Conflict"),
    ("ValidationException", "Status (Stopping) not in ([InService]). Unable to transition to (Stopping)", "Conflict"),
    ("AccessDeniedException", "not authorized", "ClientError"),
    ("ThrottlingException", "Rate exceeded", "ClientError"),  # botocore's retries, then the action's error
])
def test_aws_errors_are_sorted_into_gone_busy_and_the_rest(code: str, message: str, sorted_as: str) -> None:
    from botocore.exceptions import ClientError

    from greenrail.adapters import studio

    def refused(**_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": code, "Message": message}}, "DeleteApp")

    with pytest.raises(Exception) as raised:
        studio._call(refused)
    assert type(raised.value).__name__ == sorted_as
