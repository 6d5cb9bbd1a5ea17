"""The moto extension for SageMaker Studio and notebook instances (moto 5.2.5 has no UpdateDomain,
user profiles, spaces or apps, and stops notebook instances at once without an event)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenrail_cli.emulator import moto_ext
from greenrail_cli.emulator.clock import Clock
from greenrail_cli.emulator.moto_ext import sagemaker_studio as studio
from greenrail_cli.emulator.runtime import LambdaRuntime

ROLE = "arn:aws:iam::123456789012:role/studio"
IDLE_OFF = {"AppLifecycleManagement": {"IdleSettings": {"LifecycleManagement": "DISABLED"}}}


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"})
    clock = Clock()
    with mock_aws():
        moto_ext.apply(LambdaRuntime(), clock)
        events = boto3.client("events", region_name="us-east-1")
        events.put_rule(Name="sagemaker", EventPattern=json.dumps({"source": ["aws.sagemaker"]}))
        yield {"sm": boto3.client("sagemaker", region_name="us-east-1"), "clock": clock}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def sagemaker_events(detail_type: str) -> list[dict[str, Any]]:
    return [event for _bus, event in moto_ext.hooks.event_log if event["detail-type"] == detail_type]


def domain(sm: Any, name: str, **settings: Any) -> str:
    user = {"ExecutionRole": ROLE, "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"},
                                                              **IDLE_OFF},
            "CodeEditorAppSettings": IDLE_OFF}
    arn = sm.create_domain(DomainName=name, AuthMode="IAM", DefaultUserSettings=settings.get("user", user),
                           SubnetIds=["subnet-1"], VpcId="vpc-1", **settings.get("extra", {}))["DomainArn"]
    return str(arn.rsplit("/", 1)[-1])


def test_domain_settings_round_trip_and_update_domain_merges_then_settles(world: dict[str, Any]) -> None:
    sm, clock = world["sm"], world["clock"]
    space_defaults = {"ExecutionRole": ROLE, "JupyterLabAppSettings": {
        "DefaultResourceSpec": {"InstanceType": "ml.g5.xlarge"},
        "AppLifecycleManagement": {"IdleSettings": {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 240}}}}
    domain_id = domain(sm, "merge", extra={"DefaultSpaceSettings": space_defaults})
    described = sm.describe_domain(DomainId=domain_id)
    assert described["DefaultUserSettings"]["JupyterLabAppSettings"] == {
        "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}, **IDLE_OFF}
    assert described["DefaultUserSettings"]["CodeEditorAppSettings"] == IDLE_OFF
    assert described["DefaultSpaceSettings"] == space_defaults

    idle = {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120, "MinIdleTimeoutInMinutes": 60,
            "MaxIdleTimeoutInMinutes": 120}
    sm.update_domain(DomainId=domain_id, DefaultUserSettings={
        "JupyterLabAppSettings": {"AppLifecycleManagement": {"IdleSettings": idle}}})
    updated = sm.describe_domain(DomainId=domain_id)
    assert updated["Status"] == "Updating"
    jupyterlab = updated["DefaultUserSettings"]["JupyterLabAppSettings"]
    assert jupyterlab == {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"},
                          "AppLifecycleManagement": {"IdleSettings": idle}}  # nothing else lost
    assert updated["DefaultUserSettings"]["CodeEditorAppSettings"] == IDLE_OFF
    assert updated["DefaultUserSettings"]["ExecutionRole"] == ROLE
    assert updated["DefaultSpaceSettings"] == space_defaults

    with pytest.raises(ClientError) as busy:
        sm.update_domain(DomainId=domain_id, DefaultUserSettings={"CodeEditorAppSettings": {
            "AppLifecycleManagement": {"IdleSettings": idle}}})
    assert code(busy) == "ConflictException"
    clock.advance(studio.DOMAIN_UPDATE_SECONDS)
    assert sm.describe_domain(DomainId=domain_id)["Status"] == "InService"
    with pytest.raises(ClientError) as missing:
        sm.describe_domain(DomainId="d-nope")
    assert code(missing) == "ResourceNotFound"


def test_idle_timeouts_outside_60_to_525600_are_refused(world: dict[str, Any]) -> None:
    sm = world["sm"]
    domain_id = domain(sm, "ranges")
    too_long = {"JupyterLabAppSettings": {"AppLifecycleManagement": {"IdleSettings": {
        "LifecycleManagement": "ENABLED", "MaxIdleTimeoutInMinutes": 525601}}}}
    with pytest.raises(ClientError) as on_domain:
        sm.update_domain(DomainId=domain_id, DefaultUserSettings=too_long)
    assert code(on_domain) == "ValidationException"
    assert "maxIdleTimeoutInMinutes" in on_domain.value.response["Error"]["Message"]
    described = sm.describe_domain(DomainId=domain_id)
    assert described["Status"] == "InService" and described["DefaultUserSettings"]["JupyterLabAppSettings"][
        "AppLifecycleManagement"] == IDLE_OFF["AppLifecycleManagement"]
    with pytest.raises(ClientError) as on_profile:
        sm.create_user_profile(DomainId=domain_id, UserProfileName="u", UserSettings=too_long)
    assert code(on_profile) == "ValidationException"
    sm.create_space(DomainId=domain_id, SpaceName="s")
    with pytest.raises(ClientError) as on_space:
        sm.update_space(DomainId=domain_id, SpaceName="s", SpaceSettings={"CodeEditorAppSettings": {
            "AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 600000}}}})
    assert code(on_space) == "ValidationException"
    with pytest.raises(ClientError) as bad_type:
        sm.create_space(DomainId=domain_id, SpaceName="t", SpaceSettings={"JupyterLabAppSettings": {
            "DefaultResourceSpec": {"InstanceType": "ml.nope.large"}}})
    assert code(bad_type) == "ValidationException"


def test_a_domain_held_in_updating_answers_conflict_until_released(world: dict[str, Any]) -> None:
    sm, clock = world["sm"], world["clock"]
    domain_id = domain(sm, "held")
    studio.hold_domain_updating(domain_id)
    clock.advance(3600)
    with pytest.raises(ClientError) as busy:
        sm.update_domain(DomainId=domain_id, DefaultUserSettings={"ExecutionRole": ROLE})
    assert code(busy) == "ConflictException"
    studio.release_domain(domain_id)
    sm.update_domain(DomainId=domain_id, DefaultUserSettings={"ExecutionRole": ROLE})
    studio.hold_domain_updating(domain_id, seconds=30)
    clock.advance(30)
    assert sm.describe_domain(DomainId=domain_id)["Status"] == "InService"


def test_user_profiles_create_describe_list_update_delete(world: dict[str, Any]) -> None:
    sm = world["sm"]
    domain_id = domain(sm, "profiles")
    settings = {"JupyterLabAppSettings": {"AppLifecycleManagement": {"IdleSettings": {
        "LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 600, "MaxIdleTimeoutInMinutes": 900}}},
        "CodeEditorAppSettings": IDLE_OFF}
    arn = sm.create_user_profile(DomainId=domain_id, UserProfileName="ana", UserSettings=settings)["UserProfileArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:user-profile/{domain_id}/ana"
    sm.create_user_profile(DomainId=domain_id, UserProfileName="bo")
    with pytest.raises(ClientError) as again:
        sm.create_user_profile(DomainId=domain_id, UserProfileName="ana")
    assert code(again) == "ResourceInUse"
    profile = sm.describe_user_profile(DomainId=domain_id, UserProfileName="ana")
    assert profile["UserSettings"] == settings and profile["Status"] == "InService"
    listed = sm.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"]
    assert {p["UserProfileName"] for p in listed} == {"ana", "bo"} and "UserSettings" not in listed[0]

    sm.update_user_profile(DomainId=domain_id, UserProfileName="ana", UserSettings={"JupyterLabAppSettings": {
        "AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 120, "MaxIdleTimeoutInMinutes": 120}}}})
    idle = sm.describe_user_profile(DomainId=domain_id, UserProfileName="ana")["UserSettings"][
        "JupyterLabAppSettings"]["AppLifecycleManagement"]["IdleSettings"]
    assert idle == {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120, "MaxIdleTimeoutInMinutes": 120}
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="bo")
    with pytest.raises(ClientError) as gone:
        sm.describe_user_profile(DomainId=domain_id, UserProfileName="bo")
    assert code(gone) == "ResourceNotFound"


def test_spaces_round_trip_and_list_summaries(world: dict[str, Any]) -> None:
    sm = world["sm"]
    domain_id = domain(sm, "spaces")
    sm.create_user_profile(DomainId=domain_id, UserProfileName="ana")
    settings = {"AppType": "JupyterLab",
                "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.g5.2xlarge"},
                                          "AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 90}}},
                "CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}},
                "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 5}}}
    arn = sm.create_space(DomainId=domain_id, SpaceName="gpu", SpaceSettings=settings,
                          OwnershipSettings={"OwnerUserProfileName": "ana"},
                          SpaceSharingSettings={"SharingType": "Private"}, SpaceDisplayName="GPU")["SpaceArn"]
    assert arn.endswith(f":space/{domain_id}/gpu")
    space = sm.describe_space(DomainId=domain_id, SpaceName="gpu")
    assert space["SpaceSettings"] == settings and space["OwnershipSettings"] == {"OwnerUserProfileName": "ana"}
    assert space["SpaceSharingSettings"] == {"SharingType": "Private"} and space["Status"] == "InService"
    [summary] = sm.list_spaces(DomainIdEquals=domain_id)["Spaces"]
    assert summary["SpaceSettingsSummary"] == {"AppType": "JupyterLab",
                                               "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 5}}}
    assert summary["OwnershipSettingsSummary"] == {"OwnerUserProfileName": "ana"}
    assert summary["SpaceSharingSettingsSummary"] == {"SharingType": "Private"}

    sm.update_space(DomainId=domain_id, SpaceName="gpu", SpaceSettings={"JupyterLabAppSettings": {
        "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}}})
    after = sm.describe_space(DomainId=domain_id, SpaceName="gpu")["SpaceSettings"]["JupyterLabAppSettings"]
    assert after == {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"},
                     "AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 90}}}
    sm.delete_space(DomainId=domain_id, SpaceName="gpu")
    with pytest.raises(ClientError) as gone:
        sm.describe_space(DomainId=domain_id, SpaceName="gpu")
    assert code(gone) == "ResourceNotFound"


def test_apps_list_without_arn_or_activity_describe_with_them_and_progress_on_the_clock(
        world: dict[str, Any]) -> None:
    sm, clock = world["sm"], world["clock"]
    domain_id = domain(sm, "apps")
    sm.create_space(DomainId=domain_id, SpaceName="s1", SpaceSettings={"JupyterLabAppSettings": {
        "DefaultResourceSpec": {"InstanceType": "ml.g5.xlarge"}}})
    app = {"DomainId": domain_id, "SpaceName": "s1", "AppType": "JupyterLab", "AppName": "default"}
    arn = sm.create_app(**app)["AppArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:app/{domain_id}/s1/jupyterlab/default"
    [summary] = sm.list_apps(DomainIdEquals=domain_id)["Apps"]
    assert set(summary) == {"DomainId", "SpaceName", "AppType", "AppName", "Status", "CreationTime", "ResourceSpec"}
    assert summary["Status"] == "Pending" and summary["ResourceSpec"] == {"InstanceType": "ml.g5.xlarge"}
    described = sm.describe_app(**app)
    assert described["AppArn"] == arn and described["SpaceName"] == "s1"
    assert "LastUserActivityTimestamp" not in described and described["Status"] == "Pending"

    clock.advance(studio.APP_START_SECONDS)
    running = sm.describe_app(**app)
    assert running["Status"] == "InService" and "LastHealthCheckTimestamp" in running
    studio.set_app_activity(arn, last_user_activity=timedelta(hours=5), creation_time=timedelta(hours=6))
    idle = sm.describe_app(**app)
    assert abs(datetime.now(UTC) - timedelta(hours=5) - idle["LastUserActivityTimestamp"]) < timedelta(seconds=5)
    assert abs(datetime.now(UTC) - timedelta(hours=6) - idle["CreationTime"]) < timedelta(seconds=5)
    clock.advance(3600)  # an hour of emulated time: the app is an hour idler, as the functions see it
    idler = sm.describe_app(**app)["LastUserActivityTimestamp"]
    assert abs(datetime.now(UTC) - timedelta(hours=6) - idler) < timedelta(seconds=5)
    assert "LastUserActivityTimestamp" not in sm.list_apps(DomainIdEquals=domain_id)["Apps"][0]

    sm.delete_app(**app)
    with pytest.raises(ClientError) as deleting:
        sm.delete_app(**app)
    assert code(deleting) == "ResourceInUse"
    assert sm.describe_app(**app)["Status"] == "Deleting"
    clock.advance(studio.APP_DELETE_SECONDS)
    assert sm.list_apps(DomainIdEquals=domain_id)["Apps"][0]["Status"] == "Deleted"  # AWS lists them
    assert sm.describe_app(**app)["Status"] == "Deleted"
    with pytest.raises(ClientError) as deleted:
        sm.delete_app(**app)
    assert code(deleted) == "ValidationException" and "already been deleted" in deleted.value.response["Error"]["Message"]
    assert studio.delete_app_calls(arn) == 1
    for call in (sm.describe_app, sm.delete_app):
        with pytest.raises(ClientError) as unknown:
            call(**{**app, "AppName": "other"})
        assert code(unknown) == "ResourceNotFound"
    sm.create_app(**app)  # the user restarts it
    assert sm.describe_app(**app)["Status"] == "Pending"


def test_apps_rules_paging_and_vanishing_between_list_and_describe(world: dict[str, Any]) -> None:
    sm = world["sm"]
    domain_id = domain(sm, "vanish")
    sm.create_user_profile(DomainId=domain_id, UserProfileName="ana")
    sm.create_space(DomainId=domain_id, SpaceName="s1")
    with pytest.raises(ClientError) as not_in_space:
        sm.create_app(DomainId=domain_id, UserProfileName="ana", AppType="JupyterLab", AppName="default")
    assert code(not_in_space) == "ValidationException"
    kernel = {"DomainId": domain_id, "UserProfileName": "ana", "AppType": "KernelGateway", "AppName": "k1"}
    lab = {"DomainId": domain_id, "SpaceName": "s1", "AppType": "JupyterLab", "AppName": "default"}
    kernel_arn, lab_arn = sm.create_app(**kernel)["AppArn"], sm.create_app(**lab)["AppArn"]
    with pytest.raises(ClientError) as twice:
        sm.create_app(**lab)
    assert code(twice) == "ResourceInUse"
    first = sm.list_apps(DomainIdEquals=domain_id, MaxResults=1, SortOrder="Ascending")
    second = sm.list_apps(DomainIdEquals=domain_id, MaxResults=1, SortOrder="Ascending", NextToken=first["NextToken"])
    assert [a["AppName"] for a in first["Apps"] + second["Apps"]] == ["k1", "default"] and "NextToken" not in second
    assert [a["AppName"] for a in sm.list_apps(SpaceNameEquals="s1", DomainIdEquals=domain_id)["Apps"]] == ["default"]

    studio.vanish_app_after_next_list(kernel_arn, how="gone")
    studio.vanish_app_after_next_list(lab_arn)
    assert len(sm.list_apps(DomainIdEquals=domain_id)["Apps"]) == 2  # listed as they were
    with pytest.raises(ClientError) as gone:
        sm.describe_app(**kernel)
    assert code(gone) == "ResourceNotFound"
    assert sm.describe_app(**lab)["Status"] == "Deleted"
    assert studio.delete_app_calls(lab_arn) == 0


def test_create_app_create_space_update_domain_update_space_send_cloudtrail_events(world: dict[str, Any]) -> None:
    sm, clock = world["sm"], world["clock"]
    domain_id = domain(sm, "trail")
    sm.create_space(DomainId=domain_id, SpaceName="s1", Tags=[{"Key": "team", "Value": "a"}])
    sm.update_space(DomainId=domain_id, SpaceName="s1", SpaceSettings={"JupyterLabAppSettings": {
        "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}}})
    sm.create_app(DomainId=domain_id, SpaceName="s1", AppType="JupyterLab", AppName="default",
                  ResourceSpec={"InstanceType": "ml.g5.xlarge"})
    sm.update_domain(DomainId=domain_id, DefaultUserSettings={"ExecutionRole": ROLE})
    clock.advance(studio.DOMAIN_UPDATE_SECONDS)
    trail = [e for e in sagemaker_events("AWS API Call via CloudTrail")
             if e["detail"]["requestParameters"].get("domainId") == domain_id]
    assert [e["detail"]["eventName"] for e in trail] == ["CreateSpace", "UpdateSpace", "CreateApp", "UpdateDomain"]
    create_app = trail[2]
    assert create_app["source"] == "aws.sagemaker" and create_app["account"] == "123456789012"
    detail = create_app["detail"]
    assert detail["eventSource"] == "sagemaker.amazonaws.com" and detail["awsRegion"] == "us-east-1"
    assert detail["requestParameters"] == {"domainId": domain_id, "spaceName": "s1", "appType": "JupyterLab",
                                           "appName": "default", "resourceSpec": {"instanceType": "ml.g5.xlarge"}}
    assert detail["responseElements"]["appArn"].endswith(f"app/{domain_id}/s1/jupyterlab/default")
    assert detail["userIdentity"]["accountId"] == "123456789012" and detail["userIdentity"]["arn"]
    assert detail["eventType"] == "AwsApiCall" and detail["readOnly"] is False
    assert trail[1]["detail"]["requestParameters"]["spaceSettings"] == {
        "jupyterLabAppSettings": {"defaultResourceSpec": {"instanceType": "ml.t3.medium"}}}

    credentials = boto3.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="greenrail")["Credentials"]
    as_role = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id=credentials["AccessKeyId"],
                           aws_secret_access_key=credentials["SecretAccessKey"],
                           aws_session_token=credentials["SessionToken"])
    as_role.update_space(DomainId=domain_id, SpaceName="s1", SpaceDisplayName="S1")
    identity = sagemaker_events("AWS API Call via CloudTrail")[-1]["detail"]["userIdentity"]
    assert identity["type"] == "AssumedRole" and identity["arn"].endswith(":assumed-role/studio/greenrail")
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == ROLE


def test_tags_on_domain_user_profile_space_and_app_arns(world: dict[str, Any]) -> None:
    sm = world["sm"]
    domain_id = domain(sm, "tags")
    profile = sm.create_user_profile(DomainId=domain_id, UserProfileName="ana",
                                     Tags=[{"Key": "team", "Value": "a"}])["UserProfileArn"]
    space = sm.create_space(DomainId=domain_id, SpaceName="s1")["SpaceArn"]
    app = sm.create_app(DomainId=domain_id, SpaceName="s1", AppType="CodeEditor", AppName="default")["AppArn"]
    domain_arn = sm.describe_domain(DomainId=domain_id)["DomainArn"]
    assert sm.list_tags(ResourceArn=domain_arn)["Tags"] == []
    assert sm.list_tags(ResourceArn=profile)["Tags"] == [{"Key": "team", "Value": "a"}]
    for arn in (domain_arn, profile, space, app):
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "greenrail:exempt", "Value": "false"}])
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "greenrail:exempt", "Value": "true"}])
        assert {"Key": "greenrail:exempt", "Value": "true"} in sm.list_tags(ResourceArn=arn)["Tags"]
        assert len([t for t in sm.list_tags(ResourceArn=arn)["Tags"] if t["Key"] == "greenrail:exempt"]) == 1
    sm.delete_tags(ResourceArn=profile, TagKeys=["greenrail:exempt"])
    assert sm.list_tags(ResourceArn=profile)["Tags"] == [{"Key": "team", "Value": "a"}]


def test_notebook_instances_stop_through_stopping_on_the_clock_and_send_state_changes(
        world: dict[str, Any]) -> None:
    sm, clock = world["sm"], world["clock"]
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="auto-stop-idle", OnStart=[{"Content": "ZWNobyBoaQ=="}])
    config = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName="auto-stop-idle")
    assert config["OnStart"] == [{"Content": "ZWNobyBoaQ=="}]
    sm.create_notebook_instance(NotebookInstanceName="nb", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="auto-stop-idle", Tags=[{"Key": "team", "Value": "a"}])
    described = sm.describe_notebook_instance(NotebookInstanceName="nb")
    assert described["NotebookInstanceStatus"] == "InService"
    assert described["NotebookInstanceLifecycleConfigName"] == "auto-stop-idle"

    sm.stop_notebook_instance(NotebookInstanceName="nb")
    assert sm.describe_notebook_instance(NotebookInstanceName="nb")["NotebookInstanceStatus"] == "Stopping"
    with pytest.raises(ClientError) as again:
        sm.stop_notebook_instance(NotebookInstanceName="nb")
    assert code(again) == "ValidationException"
    clock.advance(studio.NOTEBOOK_STOP_SECONDS)  # no call needed: the clock completes the stop
    changes = [e for e in sagemaker_events("SageMaker Notebook Instance State Change")
               if e["detail"]["NotebookInstanceName"] == "nb"]
    assert [e["detail"]["NotebookInstanceStatus"] for e in changes] == ["InService", "Stopping", "Stopped"]
    stopped = changes[-1]
    assert stopped["source"] == "aws.sagemaker" and stopped["resources"] == [described["NotebookInstanceArn"]]
    assert stopped["detail"]["Tags"] == {"team": "a"} and stopped["detail"]["InstanceType"] == "ml.t3.medium"
    assert stopped["detail"]["NotebookInstanceLifecycleConfigName"] == "auto-stop-idle"
    assert stopped["detail"]["LastModifiedTime"].isdigit()
    assert sm.describe_notebook_instance(NotebookInstanceName="nb")["NotebookInstanceStatus"] == "Stopped"
    assert studio.notebook_stop_calls("nb") == 1

    sm.start_notebook_instance(NotebookInstanceName="nb")
    studio.set_notebook_instance_status("nb", "Updating")
    with pytest.raises(ClientError) as updating:
        sm.stop_notebook_instance(NotebookInstanceName="nb")
    assert code(updating) == "ValidationException"
    assert studio.notebook_instance_state_change_event("nb")["detail"]["NotebookInstanceStatus"] == "Updating"
