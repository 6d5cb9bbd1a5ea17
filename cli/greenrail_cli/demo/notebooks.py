"""The notebooks policy's demo scenario: a Studio domain and two notebook instances.

* domain ``research``: created without idle shutdown (JupyterLab and Code Editor apps would run
  until someone deletes them): ``set-idle-shutdown`` to the policy's 120 minutes, the rest of its
  settings untouched;
* space ``ana-gpu``: JupyterLab on ``ml.g5.xlarge`` by default: ``set-default-instance``
  ``ml.t3.medium`` (users may still choose a GPU when they need one);
* app ``ana-gpu/default`` (JupyterLab, ``ml.g5.xlarge``): last user activity five hours ago:
  ``delete-app`` (the space and its storage stay); app ``bo-cpu/default``: used ten minutes ago:
  kept;
* notebook instance ``nightly-explore`` (``ml.p3.2xlarge``) InService at night in the policy's
  working-hours time zone: ``stop``; ``always-on-demo``, tagged
  ``greenrail:working-hours=always``: kept, with a recommendation to add an idle auto-stop.

The handlers compare with the wall clock, so "night" is chosen for the demo: its working hours
are in a time zone where it is night now (``night_zone``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from greenrail.aws import client

ROLE_ARN = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
# Zones about three hours apart around the globe: one of them always has its night now.
ZONES = ("Pacific/Auckland", "Asia/Tokyo", "Asia/Kolkata", "Asia/Dubai", "Europe/Berlin", "Europe/London",
         "America/Sao_Paulo", "America/New_York", "America/Denver", "America/Los_Angeles", "Pacific/Honolulu")


def night_zone(now: datetime | None = None) -> str:
    """A time zone where it is between 00:00 and 05:59 now (outside 08:00-19:00 by hours)."""
    now = now or datetime.now(UTC)
    for zone in ZONES:
        if now.astimezone(ZoneInfo(zone)).hour < 6:
            return zone
    return "Pacific/Kiritimati"  # pragma: no cover - the list covers every hour


POLICY = f"""\
notebooks:
  mode: enforce
  max_idle_timeout_minutes: 120
  idle_minutes: 180
  allow_gpu_default: false
  default_instance_type: ml.t3.medium
  working_hours: {{start: "08:00", end: "19:00", timezone: {night_zone()}, days: [mon, tue, wed, thu, fri]}}
"""


# ---------------------------------------------------------------- seeding helpers (demo and tests)
def create_domain(name: str, default_user_settings: dict[str, Any] | None = None,
                  tags: dict[str, str] | None = None) -> str:
    """A Studio domain (IAM auth); its id."""
    settings = {"ExecutionRole": ROLE_ARN, **(default_user_settings or {})}
    arn = client("sagemaker").create_domain(
        DomainName=name, AuthMode="IAM", DefaultUserSettings=settings, SubnetIds=["subnet-0a1b2c3d"],
        VpcId="vpc-0a1b2c3d", Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])["DomainArn"]
    return str(arn).rsplit("/", 1)[1]


def create_space(domain_id: str, owner: str, name: str, instance_type: str | None = None,
                 tags: dict[str, str] | None = None) -> str:
    """A private JupyterLab space of ``owner`` (a user profile, created when missing); its ARN."""
    sagemaker = client("sagemaker")
    known = {p["UserProfileName"] for p in sagemaker.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"]}
    if owner not in known:
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName=owner)
    settings: dict[str, Any] = {"AppType": "JupyterLab"}
    if instance_type:
        settings["JupyterLabAppSettings"] = {"DefaultResourceSpec": {"InstanceType": instance_type}}
    return str(sagemaker.create_space(
        DomainId=domain_id, SpaceName=name, OwnershipSettings={"OwnerUserProfileName": owner},
        SpaceSharingSettings={"SharingType": "Private"}, SpaceSettings=settings,
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])["SpaceArn"])


def create_app(domain_id: str, space: str, instance_type: str, idle_for: timedelta | None,
               age: timedelta = timedelta(days=1), name: str = "default") -> str:
    """A JupyterLab app InService in ``space``, last used ``idle_for`` ago (None: never); its ARN."""
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    arn = str(client("sagemaker").create_app(DomainId=domain_id, SpaceName=space, AppType="JupyterLab", AppName=name,
                                             ResourceSpec={"InstanceType": instance_type})["AppArn"])
    sagemaker_studio.set_app_activity(arn, last_user_activity=idle_for, creation_time=age, status="InService")
    return arn


def create_notebook(name: str, instance_type: str, tags: dict[str, str] | None = None,
                    lifecycle_config: str | None = None) -> str:
    kwargs: dict[str, Any] = {"NotebookInstanceName": name, "InstanceType": instance_type, "RoleArn": ROLE_ARN,
                              "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
    if lifecycle_config:
        kwargs["LifecycleConfigName"] = lifecycle_config
    return str(client("sagemaker").create_notebook_instance(**kwargs)["NotebookInstanceArn"])


def idle_settings(settings: dict[str, Any], app: str = "JupyterLabAppSettings") -> dict[str, Any]:
    return dict(((settings.get(app) or {}).get("AppLifecycleManagement") or {}).get("IdleSettings") or {})


# ---------------------------------------------------------------- the scenario
def scenario(emulator: Any, log: list[str]) -> dict[str, Any]:
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    sagemaker = client("sagemaker")
    domain = create_domain("research", {"JupyterLabAppSettings": {
        "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}}})
    create_space(domain, "ana", "ana-gpu", "ml.g5.xlarge")
    create_space(domain, "bo", "bo-cpu", "ml.t3.medium")
    idle_app = create_app(domain, "ana-gpu", "ml.g5.xlarge", idle_for=timedelta(hours=5))
    create_app(domain, "bo-cpu", "ml.g5.xlarge", idle_for=timedelta(minutes=10))
    create_notebook("nightly-explore", "ml.p3.2xlarge")
    create_notebook("always-on-demo", "ml.t3.medium", tags={"greenrail:working-hours": "always"})
    zone = night_zone()
    log.append(f"sagemaker: Studio domain research ({domain}) without idle shutdown; spaces ana-gpu (default "
               f"ml.g5.xlarge) and bo-cpu; JupyterLab apps on ml.g5.xlarge: ana-gpu idle 5 h, bo-cpu used 10 min "
               f"ago; notebook instances nightly-explore (ml.p3.2xlarge) and always-on-demo (tagged "
               f"greenrail:working-hours=always), InService at {datetime.now(ZoneInfo(zone)):%H:%M} in {zone}")
    emulator.drain()  # CloudTrail's CreateSpace/CreateApp and the instances' InService events
    log.append("cloudtrail: CreateSpace x2, CreateApp x2 -> AWS API Call via CloudTrail -> NotebooksEventFunction "
               "(the domain's idle shutdown and the GPU-default space, at once)")
    log.append("sagemaker: Notebook Instance State Change (InService) x2 -> NotebooksEventFunction")
    emulator.run_schedule("NotebooksSweepFunctionSchedule")
    log.append("scheduler: the 15-minute NotebooksSweepFunction sweep (domains, profiles, spaces, apps, instances)")
    emulator.drain()  # CloudTrail: Greenrail's own UpdateDomain/UpdateSpace come back: already compliant
    log.append("cloudtrail: Greenrail's UpdateDomain and UpdateSpace -> AWS API Call via CloudTrail -> "
               "NotebooksEventFunction (compliant now: nothing more)")
    emulator.clock.advance(300)  # Deleting -> Deleted, Stopping -> Stopped on the emulator's clock
    described = sagemaker.describe_domain(DomainId=domain)["DefaultUserSettings"]
    apps = {a["SpaceName"]: a["Status"] for a in sagemaker.list_apps(DomainIdEquals=domain)["Apps"]}
    spaces = {s: (sagemaker.describe_space(DomainId=domain, SpaceName=s)["SpaceSettings"].get("JupyterLabAppSettings")
                  or {}).get("DefaultResourceSpec", {}).get("InstanceType") for s in ("ana-gpu", "bo-cpu")}
    notebooks = {n: sagemaker.describe_notebook_instance(NotebookInstanceName=n)["NotebookInstanceStatus"]
                 for n in ("nightly-explore", "always-on-demo")}
    lines = [f"domain research: JupyterLab idle shutdown {idle_settings(described) or 'none'}",
             f"domain research: Code Editor idle shutdown {idle_settings(described, 'CodeEditorAppSettings') or 'none'}",
             *(f"space {s}: default instance {t}, app {apps.get(s)}" for s, t in spaces.items()),
             *(f"notebook instance {n}: {status}" for n, status in notebooks.items()),
             f"DeleteApp calls for ana-gpu/default: {sagemaker_studio.delete_app_calls(idle_app)}"]
    return {"lines": lines, "domain": domain, "apps": apps, "spaces": spaces, "notebooks": notebooks,
            "domain_settings": described}
