"""The notebooks policy's adapters and flow against moto with the emulator's Studio extension:
what dry-run and enforce leave behind, conflicts, apps that vanish mid-sweep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from greenrail import aws
from greenrail.decision import Decision, Mode
from greenrail.flows.notebooks import evaluate, notebook_instance_changed, studio_api_call, sweep_account
from greenrail.policies import notebooks
from greenrail.policies.notebooks import NotebooksPolicy
from greenrail_cli.demo.notebooks import (
    create_app,
    create_domain,
    create_notebook,
    create_space,
    idle_settings,
)
from tests.conftest import Context, load_function
from tests.fakes import InMemoryBus, InMemoryOnce

REGION, ACCOUNT = "us-east-1", "123456789012"
FULL_SETTINGS = {
    "SecurityGroups": ["sg-0123456789abcdef0"],
    "JupyterLabAppSettings": {
        "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"},
        "CustomImages": [{"ImageName": "team-image", "AppImageConfigName": "team-config"}],
        "AppLifecycleManagement": {"IdleSettings": {"LifecycleManagement": "DISABLED"}},
    },
    "CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.m5.large"}},
}


def night_hours(now: datetime | None = None) -> dict[str, Any]:
    """Working hours (UTC, every day) that start two hours from now: now is outside them."""
    now = now or datetime.now(UTC)
    start, end = now + timedelta(hours=2), now + timedelta(hours=4)
    return {"start": f"{start:%H}:00", "end": f"{end:%H}:00", "timezone": "UTC",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


def policy(mode: str = "enforce", **fields: Any) -> NotebooksPolicy:
    return NotebooksPolicy.model_validate({"mode": mode, "working_hours": night_hours(), **fields})


@pytest.mark.parametrize(("name", "event"), [
    ("notebooks_sweep", {"sweep": False}), ("notebooks_sweep", {"account": "123456789012"}),
    ("notebooks_event", {"source": "aws.sagemaker", "detail-type": "AWS API Call via CloudTrail",
                         "detail": {"eventSource": "sagemaker.amazonaws.com", "eventName": "DeleteApp",
                                    "requestParameters": {"domainId": "d-abc"}}}),
    ("notebooks_event", {"source": "aws.sagemaker", "detail-type": "SageMaker Notebook Instance State Change",
                         "detail": {"NotebookInstanceName": "../etc", "NotebookInstanceStatus": "InService"}}),
])
def test_malformed_inputs_are_refused_before_anything_is_read(name: str, event: dict[str, Any]) -> None:
    # first in the module: no AWS mock yet (the module's starts with the first test that uses it),
    # so any AWS call would fail
    assert load_function(name).handler(event, Context())["status"] == "malformed"


@pytest.fixture(scope="module")
def mocked() -> Iterator[None]:
    """One moto for the module (starting moto and building the clients again for every test took
    most of each test's time); ``world`` gives each test a fresh SageMaker."""
    with mock_aws():
        from greenrail_cli.emulator.moto_ext import sagemaker_studio

        sagemaker_studio.apply()
        aws.reset_clients()
        yield
    aws.reset_clients()


@pytest.fixture
def world(mocked: None) -> dict[str, str]:
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends[ACCOUNT][REGION].reset()  # no domain, app or notebook instance of an earlier test
    domain = create_domain("research", FULL_SETTINGS)
    create_space(domain, "ana", "ana-gpu", "ml.g5.xlarge")
    create_space(domain, "bo", "bo-cpu", "ml.t3.medium")
    return {
        "domain": domain,
        "idle": create_app(domain, "ana-gpu", "ml.g5.xlarge", idle_for=timedelta(hours=5)),
        "active": create_app(domain, "bo-cpu", "ml.g5.xlarge", idle_for=timedelta(minutes=10)),
        "notebook": create_notebook("nightly", "ml.p3.2xlarge"),
    }


def sagemaker() -> Any:
    return aws.client("sagemaker")  # the module's cached client (a new one parses SageMaker's model again)


def app_status(domain: str, space: str) -> str:
    return str(sagemaker().describe_app(DomainId=domain, SpaceName=space, AppType="JupyterLab",
                                        AppName="default")["Status"])


def by_action(decisions: list[Decision]) -> dict[str, list[Decision]]:
    found: dict[str, list[Decision]] = {}
    for decision in decisions:
        found.setdefault(decision.action, []).append(decision)
    return found


def sweep(rules: NotebooksPolicy, once: InMemoryOnce | None = None, bus: InMemoryBus | None = None) -> list[Decision]:
    resources = notebooks.load_estate()
    return evaluate(resources, rules, rules.mode, datetime.now(UTC), once or InMemoryOnce(), bus or InMemoryBus())


def test_dry_run_decides_everything_and_changes_nothing(world: dict[str, str]) -> None:
    before = sagemaker().describe_domain(DomainId=world["domain"])["DefaultUserSettings"]
    bus = InMemoryBus()
    decisions = by_action(sweep(policy("dry-run"), bus=bus))
    assert [d.resource for d in decisions["delete-app"]] == [world["idle"]]
    assert [d.resource.rsplit("/", 1)[1] for d in decisions["set-default-instance"]] == ["ana-gpu"]
    assert [d.resource.rsplit("/", 1)[1] for d in decisions["set-idle-shutdown"]] == [world["domain"]]
    assert [d.resource for d in decisions["stop"]] == [world["notebook"]]
    assert not any(d.applied for d in bus.decisions) and len(bus.decisions) == 4
    assert sagemaker().describe_domain(DomainId=world["domain"])["DefaultUserSettings"] == before
    assert app_status(world["domain"], "ana-gpu") == "InService"
    assert sagemaker().describe_notebook_instance(NotebookInstanceName="nightly")["NotebookInstanceStatus"] == "InService"


def test_enforce_deletes_the_idle_app_only_caps_the_domain_and_stops_the_notebook(world: dict[str, str]) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    once = InMemoryOnce()
    decisions = by_action(sweep(policy(), once))
    assert all(d.applied for action, ds in decisions.items() if action != "none" for d in ds)
    assert app_status(world["domain"], "ana-gpu") == "Deleting"
    assert app_status(world["domain"], "bo-cpu") == "InService"
    settings = sagemaker().describe_domain(DomainId=world["domain"])["DefaultUserSettings"]
    assert idle_settings(settings) == idle_settings(settings, "CodeEditorAppSettings") == {
        "LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120, "MaxIdleTimeoutInMinutes": 120}
    # nothing else of the domain's settings changed
    for app in ("JupyterLabAppSettings", "CodeEditorAppSettings"):
        settings[app].pop("AppLifecycleManagement")
    expected = {k: v for k, v in FULL_SETTINGS.items()}
    expected["JupyterLabAppSettings"] = {k: v for k, v in FULL_SETTINGS["JupyterLabAppSettings"].items()
                                         if k != "AppLifecycleManagement"}
    assert {k: settings[k] for k in expected} == expected
    space = sagemaker().describe_space(DomainId=world["domain"], SpaceName="ana-gpu")["SpaceSettings"]
    assert space["JupyterLabAppSettings"]["DefaultResourceSpec"]["InstanceType"] == "ml.t3.medium"
    assert space["AppType"] == "JupyterLab"
    assert sagemaker().describe_notebook_instance(NotebookInstanceName="nightly")["NotebookInstanceStatus"] == "Stopping"
    # the next sweep acts on nothing again: never a second DeleteApp for the same app state
    again = by_action(sweep(policy(), once))
    assert set(again) == {"none"}
    assert sagemaker_studio.delete_app_calls(world["idle"]) == 1
    assert sagemaker_studio.notebook_stop_calls("nightly") == 1


def test_a_domain_being_updated_is_retried_by_the_next_sweep(world: dict[str, str]) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    sagemaker_studio.hold_domain_updating(world["domain"])
    once, bus = InMemoryOnce(), InMemoryBus()
    [refused] = by_action(sweep(policy(), once, bus))["set-idle-shutdown"]
    assert refused.error in ("ConflictException", "ResourceInUse") and not refused.applied
    assert idle_settings(sagemaker().describe_domain(DomainId=world["domain"])["DefaultUserSettings"]) == {
        "LifecycleManagement": "DISABLED"}
    sagemaker_studio.release_domain(world["domain"])
    [done] = by_action(sweep(policy(), once, bus))["set-idle-shutdown"]
    assert done.applied and done.error is None
    assert [(d.action, d.applied) for d in bus.decisions if d.action == "set-idle-shutdown"] == [
        ("set-idle-shutdown", False), ("set-idle-shutdown", True)]


def test_apps_deleted_by_their_users_mid_sweep_are_nothing_to_do(world: dict[str, str]) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    create_space(world["domain"], "cy", "cy-lab", "ml.t3.medium")
    forgotten = create_app(world["domain"], "cy-lab", "ml.m5.large", idle_for=timedelta(hours=6))
    sagemaker_studio.vanish_app_after_next_list(world["idle"], how="deleted")  # DescribeApp: Deleted
    sagemaker_studio.vanish_app_after_next_list(forgotten, how="gone")  # DescribeApp: ResourceNotFound
    decisions = sweep(policy())
    assert not [d for d in decisions if d.resource in (world["idle"], forgotten) and d.action != "none"]
    assert not [d for d in decisions if d.error]
    assert sagemaker_studio.delete_app_calls(world["idle"]) == 0


def test_a_notebook_instance_stopping_or_updating_is_not_stopped(world: dict[str, str]) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    for status in ("Stopping", "Updating"):
        sagemaker_studio.set_notebook_instance_status("nightly", status)
        result = notebook_instance_changed("nightly", None, policy(), datetime.now(UTC), InMemoryOnce(),
                                           publish=InMemoryBus())
        assert result["decisions"] == [], status
    assert sagemaker_studio.notebook_stop_calls("nightly") == 0


def test_an_exempt_domain_and_everything_in_it_is_never_touched(world: dict[str, str]) -> None:
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    domain_arn = sagemaker().describe_domain(DomainId=world["domain"])["DomainArn"]
    sagemaker().add_tags(ResourceArn=domain_arn, Tags=[{"Key": "greenrail:exempt", "Value": "true"}])
    decisions = sweep(policy())
    studio = [d for d in decisions if ":notebook-instance/" not in d.resource]
    assert studio and all(d.action == "none" and "exempt" in d.reason for d in studio)
    assert sagemaker_studio.delete_app_calls(world["idle"]) == 0


def test_a_cloudtrail_call_evaluates_its_domain_and_space_at_once_and_many_domains_a_few_at_a_time(
        world: dict[str, str]) -> None:
    result = studio_api_call("CreateSpace", world["domain"], "ana-gpu", None, policy("dry-run"), datetime.now(UTC),
                             InMemoryOnce(), publish=InMemoryBus())
    assert sorted(d["action"] for d in result["decisions"]) == ["set-default-instance", "set-idle-shutdown"]
    gone = studio_api_call("UpdateDomain", "d-doesnotexist", None, None, policy(), datetime.now(UTC), InMemoryOnce())
    assert gone["status"] == "gone"
    for n in range(6):
        create_domain(f"team-{n}")
    report = sweep_account(policy("dry-run"), datetime.now(UTC), InMemoryOnce(), publish=InMemoryBus())
    assert report["errors"] == 0
    capped = [d for d in report["decisions"] if d["action"] == "set-idle-shutdown"]
    assert len(capped) == 7


def test_a_domain_whose_calls_keep_failing_does_not_stop_the_others(world: dict[str, str],
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     request: pytest.FixtureRequest) -> None:
    """Throttling is botocore's (standard retries, GREENRAIL_AWS_MAX_ATTEMPTS attempts, no loop of
    Greenrail's on top): a domain still throttled after them is an error of that domain only, and
    its action is not remembered, so a later sweep applies it."""
    from botocore.retries.standard import ExponentialBackoff

    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)  # the retries, not the waits
    monkeypatch.setenv("GREENRAIL_AWS_MAX_ATTEMPTS", "3")
    aws.reset_clients()
    request.addfinalizer(aws.reset_clients)  # the module's later tests: clients with the default attempts
    throttled = world["domain"]
    others = [create_domain(f"team-{n}") for n in range(3)]
    once, bus = InMemoryOnce(), InMemoryBus()
    # 1. its UpdateDomain throttled: every other action of the sweep is applied all the same
    sagemaker_studio.fail_domain_calls(throttled, "ThrottlingException", actions={"UpdateDomain"})
    first = by_action(sweep(policy(), once, bus))
    capped = {d.resource.rsplit("/", 1)[1]: d for d in first["set-idle-shutdown"]}
    assert capped[throttled].error == "ThrottlingException" and not capped[throttled].applied
    assert all(capped[domain].applied for domain in others)
    assert [d.applied for d in first["delete-app"] + first["stop"] + first["set-default-instance"]] == [True] * 3
    assert sagemaker_studio.domain_call_failures(throttled) == 3  # one UpdateDomain, three attempts
    # 2. every call naming it throttled (reading it too): the sweep reads and governs the others
    sagemaker_studio.fail_domain_calls(throttled, "ThrottlingException")
    late = create_domain("team-late")
    report = sweep_account(policy(), datetime.now(UTC), once, publish=bus)
    assert report["errors"] == 1 and sagemaker_studio.domain_call_failures(throttled) == 3  # DescribeDomain x3
    assert [(d["resource"].rsplit("/", 1)[1], d["applied"]) for d in report["decisions"]] == [(late, True)]
    # 3. the throttling over: the next sweep applies the action that was refused (not lost)
    sagemaker_studio.fail_domain_calls(throttled, None)
    [done] = by_action(sweep(policy(), once, bus))["set-idle-shutdown"]
    assert done.resource.endswith(throttled) and done.applied and done.error is None
    assert idle_settings(sagemaker().describe_domain(DomainId=throttled)["DefaultUserSettings"])[
        "IdleTimeoutInMinutes"] == 120


def test_what_changes_between_the_read_and_the_action_is_not_acted_on(world: dict[str, str]) -> None:
    """The app deleted by its user, the instance stopping, after the sweep read them: each is read
    again right before the action, and nothing is done (no error, no second DeleteApp)."""
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    resources = notebooks.load_estate()
    sagemaker().delete_app(DomainId=world["domain"], SpaceName="ana-gpu", AppType="JupyterLab", AppName="default")
    sagemaker_studio.set_notebook_instance_status("nightly", "Stopping")
    decisions = {d.resource: d for d in evaluate(resources, policy(), Mode.ENFORCE, datetime.now(UTC),
                                                 InMemoryOnce(), InMemoryBus())}
    for arn in (world["idle"], world["notebook"]):
        assert decisions[arn].action == "none" and decisions[arn].error is None and not decisions[arn].applied
        assert "nothing to do" in decisions[arn].reason
    assert sagemaker_studio.delete_app_calls(world["idle"]) == 1  # its user's
    assert sagemaker_studio.notebook_stop_calls("nightly") == 0


def test_scan_in_enforce_mode_acts_once_and_never_on_exempt_resources(world: dict[str, str]) -> None:
    """``greenrail scan --policies notebooks`` with the policy in enforce mode (the CLI's contract is
    tests/e2e/test_scan_notebooks.py): an exempt space's app and an exempt instance are untouched."""
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    exempt = [{"Key": "greenrail:exempt", "Value": "true"}]
    sagemaker().add_tags(ResourceArn=sagemaker().describe_space(DomainId=world["domain"], SpaceName="ana-gpu")[
        "SpaceArn"], Tags=exempt)
    create_notebook("kept", "ml.p3.2xlarge", tags={"greenrail:exempt": "true"})
    first = {d.resource.split(":", 5)[5]: d for d in notebooks.scan(policy(), Mode.ENFORCE)}
    acted = {resource: d.action for resource, d in first.items() if d.applied}
    assert acted == {f"domain/{world['domain']}": "set-idle-shutdown", "notebook-instance/nightly": "stop"}
    for resource in (f"space/{world['domain']}/ana-gpu", f"app/{world['domain']}/ana-gpu/jupyterlab/default",
                     "notebook-instance/kept"):
        assert first[resource].action == "none" and "exempt" in first[resource].reason, resource
    again = notebooks.scan(policy(), Mode.ENFORCE)
    assert not [d for d in again if d.applied]
    assert sagemaker_studio.delete_app_calls(world["idle"]) == 0 and sagemaker_studio.notebook_stop_calls("kept") == 0
    assert sagemaker_studio.notebook_stop_calls("nightly") == 1


def test_events_forwarded_from_a_member_account_are_acted_on_in_that_account(
        world: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An Organization deployment: the member's forwarded events (account: the member) are acted on
    through the member role in the member account, and this account's resources are left alone."""
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    member = "210987654321"
    monkeypatch.setenv("GREENRAIL_MEMBER_ROLE_NAME", "greenrail-member")  # read at each call: no client reset
    with aws.acting_in(member):
        domain = create_domain("member-lab")
        create_space(domain, "ana", "gpu", "ml.g5.xlarge")
        arn = create_notebook("nightly", "ml.p3.2xlarge")
    assert f":{member}:" in arn
    stopped = notebook_instance_changed("nightly", member, policy(), datetime.now(UTC), InMemoryOnce(),
                                        publish=InMemoryBus())
    called = studio_api_call("CreateSpace", domain, "gpu", member, policy(), datetime.now(UTC), InMemoryOnce(),
                             publish=InMemoryBus())
    assert [(d["action"], d["account"], d["applied"]) for d in stopped["decisions"]] == [("stop", member, True)]
    assert sorted((d["action"], d["account"], d["applied"]) for d in called["decisions"]) == [
        ("set-default-instance", member, True), ("set-idle-shutdown", member, True)]
    assert sagemaker_studio.notebook_stop_calls("nightly", account_id=member) == 1
    assert sagemaker_studio.notebook_stop_calls("nightly") == 0  # this account's instance of the same name
