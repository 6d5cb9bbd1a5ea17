"""moto extension: SageMaker Studio (domains, user profiles, spaces, apps) and notebook instances.

moto 5.2.5 has Studio domains (Create/Describe/List/DeleteDomain) but no ``UpdateDomain``, no
user profiles, spaces or apps, no tags on their ARNs (its ARN parser takes one ``/``), and its
notebook instances stop at once, silently. Greenrail's notebooks policy needs all of it. This
module adds, with the request and response shapes of botocore's SageMaker service model:

* **Domains**: moto's domains, their ``DefaultUserSettings`` and ``DefaultSpaceSettings`` kept as
  given (``JupyterLabAppSettings``/``CodeEditorAppSettings`` with
  ``AppLifecycleManagement.IdleSettings`` and ``DefaultResourceSpec``); ``DescribeDomain`` of an
  unknown domain is ``ResourceNotFound``; ``UpdateDomain`` merges what it is given into the
  domain's settings (structures key by key, lists replaced: what the request leaves out stays)
  and puts the domain in ``Updating`` for :data:`DOMAIN_UPDATE_SECONDS` of the emulator's clock,
  then ``InService``. An ``UpdateDomain`` while the domain is ``Updating`` fails with
  :data:`DOMAIN_BUSY_ERROR` (``ConflictException``; note that the service model lists
  ``ResourceInUse`` among UpdateDomain's errors: a caller should retry on either).
* **Idle settings** are validated on every create and update: ``IdleTimeoutInMinutes``,
  ``MinIdleTimeoutInMinutes`` and ``MaxIdleTimeoutInMinutes`` in 60-525600 and
  ``LifecycleManagement`` ENABLED|DISABLED, else ``ValidationException`` with AWS's message
  (botocore checks the minimum client-side; the maximum only the service does). Instance types
  are checked against the model's ``AppInstanceType`` enum.
* **User profiles**: Create/Describe/List/Update/DeleteUserProfile (``UserSettings`` merged on
  update like the domain's; delete refused with ``ResourceInUse`` while the profile has apps).
* **Spaces**: Create/Describe/List/Update/DeleteSpace (``SpaceSettings`` with
  ``JupyterLabAppSettings``/``CodeEditorAppSettings`` {``DefaultResourceSpec``,
  ``AppLifecycleManagement.IdleSettings.IdleTimeoutInMinutes``}, ``OwnershipSettings``,
  ``SpaceSharingSettings``, ``SpaceDisplayName``; ``ListSpaces`` gives the summaries).
* **Apps**: CreateApp/DescribeApp/ListApps/DeleteApp. A new app is ``Pending`` for
  :data:`APP_START_SECONDS` of the clock, then ``InService``; ``DeleteApp`` makes it
  ``Deleting`` for :data:`APP_DELETE_SECONDS`, then ``Deleted``. As on AWS: ``ListApps`` has no
  ``AppArn`` and no ``LastUserActivityTimestamp`` and still lists ``Deleted`` apps;
  ``DescribeApp`` has both (``LastUserActivityTimestamp`` only once there was activity: see
  :func:`set_app_activity`); ``DescribeApp`` of a ``Deleted`` app answers ``Status: Deleted``;
  ``DeleteApp`` of a ``Deleted`` app is a ``ValidationException`` ("has already been deleted"),
  of a ``Deleting`` one ``ResourceInUse``; an app unknown to SageMaker is ``ResourceNotFound``
  for both. JupyterLab and Code Editor apps must belong to a space. ``ListApps`` sorts by
  ``CreationTime`` (default ``Descending``), pages by ``MaxResults`` (default 10) and
  ``NextToken``.
* **Tags**: AddTags/ListTags/DeleteTags on domain, user profile, space and app ARNs (AddTags
  replaces the value of a key it is given, as AWS does).
* **Notebook instances** (moto's): ``StopNotebookInstance`` of an ``InService`` instance makes it
  ``Stopping`` for :data:`NOTEBOOK_STOP_SECONDS`, then ``Stopped`` (any other status:
  ``ValidationException``); every status change (create, start, stop, stopped, delete) puts a
  ``SageMaker Notebook Instance State Change`` event on the default bus. moto already returns
  ``NotebookInstanceLifecycleConfigName`` and has Create/DescribeNotebookInstanceLifecycleConfig.
* **CloudTrail**: a successful ``CreateApp``, ``CreateSpace``, ``UpdateDomain`` or
  ``UpdateSpace`` puts an ``AWS API Call via CloudTrail`` event (source ``aws.sagemaker``) on
  the caller account's default bus: ``detail`` has ``eventVersion``, ``userIdentity`` {type,
  principalId, arn, accountId, accessKeyId}, ``eventTime``, ``eventSource``
  ``sagemaker.amazonaws.com``, ``eventName``, ``awsRegion``, ``sourceIPAddress``, ``userAgent``,
  ``requestParameters`` and ``responseElements`` (the request's and response's members with the
  first letter lower-cased at every level, as CloudTrail records SageMaker calls:
  ``{"domainId": ..., "spaceName": ..., "appType": ...}``), ``requestID``, ``eventID``,
  ``readOnly`` false, ``eventType`` ``AwsApiCall``, ``managementEvent`` true,
  ``recipientAccountId``, ``eventCategory`` ``Management``.

Time: the functions compare times with the wall clock, so the times kept here are wall-clock
times, and emulated time passes by ageing them: when the emulator's clock advances (Wait states,
``clock.advance``), every time this module keeps (creation, activity, health check, last
modified, and when a pending transition completes) moves back by that much, as
``sagemaker_training.age_in_progress_jobs`` does for training jobs. An app idle for 5 hours is
idle for 6 after ``clock.advance(3600)``, and a stop completes after
``clock.advance(NOTEBOOK_STOP_SECONDS)`` (or that long in real time). Due changes happen on any
Studio or notebook instance call and whenever the clock advances (a clock listener on the
current emulator's clock), so their events are sent even if nobody asks.

Seed hooks, for tests and the demo (``app_arn`` as CreateApp returns it; the account and region
are read from the ARN; ``account_id`` defaults to moto's default account):

* ``hold_domain_updating(domain_id: str, *, seconds: int | None = None, account_id: str | None = None,
  region: str = "us-east-1") -> None``: the domain is ``Updating`` (so UpdateDomain gets
  ``ConflictException``) for ``seconds`` of the clock, or until :func:`release_domain` when None.
* ``release_domain(domain_id: str, *, account_id: str | None = None, region: str = "us-east-1") -> None``:
  the domain is ``InService`` now.
* ``fail_domain_calls(domain_id: str, code: str | None = "ThrottlingException", *, actions: set[str] | None
  = None, account_id: str | None = None, region: str = "us-east-1") -> None``: every call naming the
  domain (or only those of ``actions``) fails with ``code`` until cleared (``code=None``);
  ``domain_call_failures(domain_id, ...) -> int`` counts the refused calls (each of botocore's
  attempts: a throttled call retried by botocore counts once per attempt).
* ``set_app_activity(app_arn: str, *, last_user_activity: datetime | timedelta | None = NOW,
  creation_time: datetime | timedelta | None = None, status: str | None = None) -> None``:
  ``last_user_activity`` is the app's ``LastUserActivityTimestamp`` (default :data:`NOW`: now
  as the functions see it; a ``timedelta`` means that long before now; a datetime, epoch seconds
  or ISO string as it is; None: no activity, the field is absent); ``creation_time`` likewise
  (None: unchanged); ``status`` (e.g. ``"InService"``) sets the status now, with no transition
  pending.
* ``vanish_app_after_next_list(app_arn: str, *, how: str = "deleted") -> None``: the next
  ``ListApps`` page that lists the app still lists it as it was; right after, the app is gone:
  ``how="deleted"``: its user deleted it (``DescribeApp`` answers ``Status: Deleted``,
  ``DeleteApp`` a ``ValidationException``); ``how="gone"``: SageMaker forgot it (both
  ``ResourceNotFound``).
* ``delete_app_calls(app_arn: str) -> int``: how many DeleteApp calls SageMaker accepted for the
  app (tests assert "never deleted twice").
* ``set_notebook_instance_status(name: str, status: str, *, account_id: str | None = None,
  region: str = "us-east-1") -> None``: the instance is in ``status`` now (e.g. ``Stopping`` or
  ``Updating``, held there), and its state change event is sent.
* ``notebook_stop_calls(name: str, *, account_id: str | None = None, region: str = "us-east-1") -> int``.
* ``notebook_instance_state_change_event(name: str, account_id: str | None = None,
  region: str = "us-east-1") -> dict`` and ``cloudtrail_api_call_event(event_name: str,
  request_parameters: dict, response_elements: dict | None = None, *, account_id: str | None = None,
  region: str = "us-east-1", user_identity: dict | None = None) -> dict``: the events as
  SageMaker and CloudTrail would send them now (for sample events and tests).

:func:`apply` is idempotent.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from greenrail_cli.emulator.moto_ext import default_bus
from greenrail_cli.emulator.moto_ext.times import epoch_ms, naive_utc
from greenrail_cli.emulator.moto_ext.times import now as wall_now

DOMAIN_UPDATE_SECONDS = 60  # UpdateDomain: Updating for this long on the clock, then InService
APP_START_SECONDS = 120  # CreateApp: Pending, then InService
APP_DELETE_SECONDS = 60  # DeleteApp: Deleting, then Deleted
NOTEBOOK_STOP_SECONDS = 60  # StopNotebookInstance: Stopping, then Stopped
DOMAIN_BUSY_ERROR = "ConflictException"  # UpdateDomain of a domain in Updating
IDLE_MINUTES = (60, 525600)  # IdleTimeoutInMinutes and its Min/Max: the model's range
LIST_DEFAULT_MAX = 10
SPACE_APP_TYPES = frozenset({"JupyterLab", "CodeEditor"})
APP_STATUSES = ("Deleted", "Deleting", "Failed", "InService", "Pending")
NOTEBOOK_STATUSES = ("Pending", "InService", "Stopping", "Stopped", "Failed", "Deleting", "Updating")
CLOUDTRAIL_EVENTS = frozenset({"CreateApp", "CreateSpace", "UpdateDomain", "UpdateSpace"})


class _Now:
    def __repr__(self) -> str:
        return "NOW"


NOW: Any = _Now()  # "now as the functions see it", the default of set_app_activity
_FIELD = "greenrail_studio"  # where the state lives on moto's SageMaker backend (reset with it)
_applied = False


# ---------------------------------------------------------------- state
@dataclass
class UserProfile:
    domain_id: str
    name: str
    arn: str
    settings: dict[str, Any]
    creation_time: datetime
    tags: list[dict[str, str]]
    sso_identifier: str | None = None
    sso_value: str | None = None
    status: str = "InService"
    uid: str = "200001"
    last_modified_time: datetime | None = None

    def describe(self) -> dict[str, Any]:
        return _compact({
            "DomainId": self.domain_id, "UserProfileArn": self.arn, "UserProfileName": self.name,
            "HomeEfsFileSystemUid": self.uid, "Status": self.status,
            "LastModifiedTime": self.last_modified_time or self.creation_time, "CreationTime": self.creation_time,
            "SingleSignOnUserIdentifier": self.sso_identifier, "SingleSignOnUserValue": self.sso_value,
            "UserSettings": copy.deepcopy(self.settings),
        })

    def summary(self) -> dict[str, Any]:
        return {"DomainId": self.domain_id, "UserProfileName": self.name, "Status": self.status,
                "CreationTime": self.creation_time,
                "LastModifiedTime": self.last_modified_time or self.creation_time}


@dataclass
class Space:
    domain_id: str
    name: str
    arn: str
    settings: dict[str, Any]
    creation_time: datetime
    tags: list[dict[str, str]]
    ownership: dict[str, Any] | None = None
    sharing: dict[str, Any] | None = None
    display_name: str | None = None
    url: str | None = None
    status: str = "InService"
    uid: str = "200002"
    last_modified_time: datetime | None = None

    def describe(self) -> dict[str, Any]:
        return _compact({
            "DomainId": self.domain_id, "SpaceArn": self.arn, "SpaceName": self.name, "HomeEfsFileSystemUid": self.uid,
            "Status": self.status, "LastModifiedTime": self.last_modified_time or self.creation_time,
            "CreationTime": self.creation_time, "SpaceSettings": copy.deepcopy(self.settings),
            "OwnershipSettings": copy.deepcopy(self.ownership), "SpaceSharingSettings": copy.deepcopy(self.sharing),
            "SpaceDisplayName": self.display_name, "Url": self.url,
        })

    def summary(self) -> dict[str, Any]:
        settings = {key: copy.deepcopy(self.settings[key]) for key in ("AppType", "RemoteAccess", "SpaceStorageSettings")
                    if key in self.settings}
        return _compact({
            "DomainId": self.domain_id, "SpaceName": self.name, "Status": self.status,
            "CreationTime": self.creation_time, "LastModifiedTime": self.last_modified_time or self.creation_time,
            "SpaceSettingsSummary": settings or None,
            "SpaceSharingSettingsSummary": copy.deepcopy(self.sharing),
            "OwnershipSettingsSummary": copy.deepcopy(self.ownership), "SpaceDisplayName": self.display_name,
        })


@dataclass
class App:
    domain_id: str
    owner_key: str  # "UserProfileName" or "SpaceName"
    owner: str
    app_type: str
    name: str
    arn: str
    resource_spec: dict[str, Any]
    creation_time: datetime
    tags: list[dict[str, str]]
    status: str = "Pending"
    due: datetime | None = None  # when the pending transition (Pending or Deleting) completes
    last_health_check: datetime | None = None
    last_user_activity: datetime | None = None
    recovery_mode: bool | None = None
    delete_calls: int = 0
    vanish: str | None = None  # set by vanish_app_after_next_list

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.domain_id, self.owner_key, self.owner, self.app_type, self.name)

    def summary(self) -> dict[str, Any]:
        return {"DomainId": self.domain_id, self.owner_key: self.owner, "AppType": self.app_type, "AppName": self.name,
                "Status": self.status, "CreationTime": self.creation_time,
                "ResourceSpec": copy.deepcopy(self.resource_spec)}

    def describe(self) -> dict[str, Any]:
        return _compact({
            **self.summary(), "AppArn": self.arn, "RecoveryMode": self.recovery_mode,
            "LastHealthCheckTimestamp": self.last_health_check, "LastUserActivityTimestamp": self.last_user_activity,
        })


@dataclass
class _Notebook:
    stop_calls: int = 0
    due: datetime | None = None  # Stopping -> Stopped at this time


@dataclass
class _Fault:
    code: str
    actions: frozenset[str] | None  # None: every call naming the domain
    refused: int = 0


@dataclass
class _Studio:
    profiles: dict[tuple[str, str], UserProfile] = field(default_factory=dict)
    spaces: dict[tuple[str, str], Space] = field(default_factory=dict)
    apps: dict[tuple[str, str, str, str, str], App] = field(default_factory=dict)
    notebooks: dict[str, _Notebook] = field(default_factory=dict)
    faults: dict[str, _Fault] = field(default_factory=dict)  # by domain id: fail_domain_calls


def _state(backend: Any) -> _Studio:
    _listen()
    state: _Studio = backend.__dict__.setdefault(_FIELD, _Studio())
    return state


def _default_account() -> str:
    from moto.core import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def _backend(account_id: str | None, region: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account_id or _default_account()][region]


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _arn(kind: str, path: str, account: str, region: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:{kind}/{path}"


# ---------------------------------------------------------------- clock
def _on_clock(seconds: int) -> None:
    """Clock listener: ``seconds`` of emulated time passed. Every time this module keeps moves back
    by that much (so code comparing them with the wall clock sees the time pass, as
    ``sagemaker_training.age_in_progress_jobs`` does for training jobs), then the transitions now
    due complete, in every backend that has Studio state."""
    from moto.sagemaker.models import sagemaker_backends

    for account in list(sagemaker_backends.keys()):
        regions = sagemaker_backends[account]
        for region in list(regions.keys()):
            backend = regions[region]
            if _FIELD in backend.__dict__:
                _age(backend, timedelta(seconds=seconds))
                _progress(backend)


def _earlier(value: datetime | None, delta: timedelta) -> datetime | None:
    return None if value is None else value - delta


def _age(backend: Any, delta: timedelta) -> None:
    state = _state(backend)
    for domain in backend.domains.values():
        domain.creation_time, domain.last_modified_time = domain.creation_time - delta, domain.last_modified_time - delta
        domain.greenrail_updating_until = _earlier(getattr(domain, "greenrail_updating_until", None), delta)
    items: list[UserProfile | Space] = [*state.profiles.values(), *state.spaces.values()]
    for item in items:
        item.creation_time, item.last_modified_time = item.creation_time - delta, _earlier(item.last_modified_time, delta)
    for app in state.apps.values():
        app.creation_time = app.creation_time - delta
        app.due, app.last_health_check = _earlier(app.due, delta), _earlier(app.last_health_check, delta)
        app.last_user_activity = _earlier(app.last_user_activity, delta)
    for name, notebook in state.notebooks.items():
        notebook.due = _earlier(notebook.due, delta)
        instance = backend.notebook_instances.get(name)
        if instance is not None:
            instance.creation_time, instance.last_modified_time = (instance.creation_time - delta,
                                                                   instance.last_modified_time - delta)


def _listen() -> None:
    """Listen to the emulator's clock (the current one: each emulator has its own)."""
    from greenrail_cli.emulator.moto_ext import hooks

    clock = hooks.clock
    if clock is not None and _on_clock not in clock.listeners:
        clock.listeners.append(_on_clock)


def _now() -> datetime:
    """Now as the functions see it (the wall clock, naive UTC, as moto keeps times): the emulator's
    clock ages the kept times instead (:func:`_on_clock`)."""
    return wall_now()


def _when(value: Any, default: datetime | None) -> datetime | None:
    if value is NOW:
        return _now()
    if value is None:
        return default
    if isinstance(value, timedelta):
        return _now() - value
    return naive_utc(value)


def _progress(backend: Any) -> None:
    """Complete the transitions now due (and send the events they cause)."""
    _listen()
    now = _now()
    for domain in backend.domains.values():
        until = getattr(domain, "greenrail_updating_until", None)
        if domain.status == "Updating" and until is not None and until <= now:
            domain.status = "InService"
            domain.greenrail_updating_until = None
    state = _state(backend)
    for app in state.apps.values():
        if app.due is not None and app.due <= now:
            app.status = {"Pending": "InService", "Deleting": "Deleted"}.get(app.status, app.status)
            if app.status == "InService":
                app.last_health_check = app.due
            app.due = None
        if app.status == "InService":
            app.last_health_check = now.replace(microsecond=0)
    for name, notebook in state.notebooks.items():
        instance = backend.notebook_instances.get(name)
        if instance is not None and notebook.due is not None and notebook.due <= now:
            due, notebook.due = notebook.due, None
            _set_notebook_status(instance, "Stopped", due)


# ---------------------------------------------------------------- errors and validation
def _not_found(message: str) -> Exception:
    from moto.sagemaker.exceptions import ResourceNotFound

    return ResourceNotFound(message=message)


def _in_use(message: str) -> Exception:
    from moto.sagemaker.exceptions import ResourceInUseException

    return ResourceInUseException(message=message)


def _invalid(message: str) -> Exception:
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError(message=message)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _instance_types() -> frozenset[str]:
    global _INSTANCE_TYPES
    if _INSTANCE_TYPES is None:
        import botocore.session

        model = botocore.session.get_session().get_service_model("sagemaker")
        _INSTANCE_TYPES = frozenset(model.shape_for("AppInstanceType").enum)
    return _INSTANCE_TYPES


_INSTANCE_TYPES: frozenset[str] | None = None


def _check_idle(idle: dict[str, Any], path: str, members: tuple[str, ...]) -> None:
    low, high = IDLE_MINUTES
    for member in members:
        value = idle.get(member)
        if value is None:
            continue
        where = f"{path}.{_lower_first(member)}"
        if int(value) < low:
            raise _invalid(f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: "
                           f"Member must have value greater than or equal to {low}")
        if int(value) > high:
            raise _invalid(f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: "
                           f"Member must have value less than or equal to {high}")
    mode = idle.get("LifecycleManagement")
    if mode is not None and mode not in ("ENABLED", "DISABLED"):
        raise _invalid(f"1 validation error detected: Value '{mode}' at '{path}.lifecycleManagement' failed to "
                       "satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]")


def _check_spec(spec: Any, path: str) -> None:
    instance_type = (spec or {}).get("InstanceType")
    if instance_type is not None and instance_type not in _instance_types():
        raise _invalid(f"1 validation error detected: Value '{instance_type}' at '{path}.instanceType' failed to "
                       "satisfy constraint: Member must satisfy enum value set: [system, ml.t3.micro, ...]")


def validate_settings(settings: dict[str, Any] | None, path: str, space: bool = False) -> None:
    """AWS's checks of the idle settings and default instance types in user, space or domain settings."""
    members = ("IdleTimeoutInMinutes",) if space else (
        "IdleTimeoutInMinutes", "MinIdleTimeoutInMinutes", "MaxIdleTimeoutInMinutes")
    for app in ("JupyterLabAppSettings", "CodeEditorAppSettings", "JupyterServerAppSettings",
                "KernelGatewayAppSettings"):
        app_settings = (settings or {}).get(app) or {}
        app_path = f"{path}.{_lower_first(app)}"
        _check_spec(app_settings.get("DefaultResourceSpec"), f"{app_path}.defaultResourceSpec")
        idle = (app_settings.get("AppLifecycleManagement") or {}).get("IdleSettings")
        if idle:
            _check_idle(idle, f"{app_path}.appLifecycleManagement.idleSettings", members)


def merge(current: dict[str, Any] | None, update: dict[str, Any] | None) -> dict[str, Any]:
    """``update`` merged into ``current``: structures key by key, anything else (lists) replaced."""
    result = copy.deepcopy(current or {})
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# ---------------------------------------------------------------- domains
def _domain(backend: Any, domain_id: str) -> Any:
    domain = backend.domains.get(domain_id)
    if domain is None:
        raise _not_found(f"Domain {_arn('domain', str(domain_id), backend.account_id, backend.region_name)} "
                         "does not exist.")
    return domain


def update_domain(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``UpdateDomain`` (API parameter names)."""
    from moto.sagemaker.exceptions import ConflictException

    _progress(backend)
    domain = _domain(backend, params["DomainId"])
    if domain.status == "Updating":
        error = ConflictException(f"Domain {domain.arn} is in status Updating; wait until it is InService "
                                  "before updating it again.")
        error.code = DOMAIN_BUSY_ERROR
        raise error
    validate_settings(params.get("DefaultUserSettings"), "defaultUserSettings")
    validate_settings(params.get("DefaultSpaceSettings"), "defaultSpaceSettings")
    if params.get("DefaultUserSettings"):
        domain.default_user_settings = merge(domain.default_user_settings, params["DefaultUserSettings"])
    if params.get("DefaultSpaceSettings"):
        domain.default_space_settings = merge(domain.default_space_settings, params["DefaultSpaceSettings"])
    if params.get("DomainSettingsForUpdate"):
        domain.domain_settings = merge(domain.domain_settings, params["DomainSettingsForUpdate"])
    for member, attribute in (("AppSecurityGroupManagement", "app_security_group_management"),
                              ("SubnetIds", "subnet_ids"), ("AppNetworkAccessType", "app_network_access_type"),
                              ("VpcId", "vpc_id")):
        if params.get(member) is not None:
            setattr(domain, attribute, params[member])
    now = _now()
    domain.status = "Updating"
    domain.greenrail_updating_until = now + timedelta(seconds=DOMAIN_UPDATE_SECONDS)
    domain.last_modified_time = now
    return {"DomainArn": domain.arn}


def hold_domain_updating(domain_id: str, *, seconds: int | None = None, account_id: str | None = None,
                         region: str = "us-east-1") -> None:
    """The domain is ``Updating`` for ``seconds`` of the clock, or until :func:`release_domain`."""
    domain = _domain(_backend(account_id, region), domain_id)
    domain.status = "Updating"
    domain.greenrail_updating_until = None if seconds is None else _now() + timedelta(seconds=seconds)


def release_domain(domain_id: str, *, account_id: str | None = None, region: str = "us-east-1") -> None:
    """The domain is ``InService`` now."""
    domain = _domain(_backend(account_id, region), domain_id)
    domain.status = "InService"
    domain.greenrail_updating_until = None


def fail_domain_calls(domain_id: str, code: str | None = "ThrottlingException", *,
                      actions: set[str] | frozenset[str] | None = None, account_id: str | None = None,
                      region: str = "us-east-1") -> None:
    """From now on, every call naming the domain (``DomainId`` or ``DomainIdEquals``: DescribeDomain,
    UpdateDomain, the user profile, space and app calls), or only those of ``actions``, fails with
    ``code`` (HTTP 400), as long as the fault is set; ``code`` None clears it."""
    faults = _state(_backend(account_id, region)).faults
    if code is None:
        faults.pop(domain_id, None)
    else:
        faults[domain_id] = _Fault(code, frozenset(actions) if actions is not None else None)


def domain_call_failures(domain_id: str, *, account_id: str | None = None, region: str = "us-east-1") -> int:
    """How many calls naming the domain :func:`fail_domain_calls` refused (each botocore attempt counts)."""
    fault = _state(_backend(account_id, region)).faults.get(domain_id)
    return fault.refused if fault else 0


def _check_fault(backend: Any, action: str, domain_id: str | None) -> None:
    fault = _state(backend).faults.get(str(domain_id)) if domain_id else None
    if fault is None or (fault.actions is not None and action not in fault.actions):
        return
    from moto.sagemaker.exceptions import SagemakerClientError

    fault.refused += 1
    error = SagemakerClientError(f"Rate exceeded ({action} on domain {domain_id})")
    error.code = fault.code
    raise error


# ---------------------------------------------------------------- user profiles
def _profile(backend: Any, domain_id: str, name: str) -> UserProfile:
    profile = _state(backend).profiles.get((domain_id, name))
    if profile is None:
        raise _not_found(f"User profile {name} does not exist in domain {domain_id}.")
    return profile


def create_user_profile(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    domain = _domain(backend, params["DomainId"])
    name = params["UserProfileName"]
    key = (domain.id, name)
    state = _state(backend)
    if key in state.profiles:
        raise _in_use(f"User profile {state.profiles[key].arn} already exists.")
    validate_settings(params.get("UserSettings"), "userSettings")
    profile = UserProfile(
        domain.id, name, _arn("user-profile", f"{domain.id}/{name}", backend.account_id, backend.region_name),
        copy.deepcopy(params.get("UserSettings") or {}), _now(), list(params.get("Tags") or []),
        params.get("SingleSignOnUserIdentifier"), params.get("SingleSignOnUserValue"),
        uid=str(200001 + len(state.profiles) + len(state.spaces)))
    state.profiles[key] = profile
    return {"UserProfileArn": profile.arn}


def update_user_profile(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    profile = _profile(backend, params["DomainId"], params["UserProfileName"])
    validate_settings(params.get("UserSettings"), "userSettings")
    profile.settings = merge(profile.settings, params.get("UserSettings"))
    profile.last_modified_time = _now()
    return {"UserProfileArn": profile.arn}


def delete_user_profile(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    profile = _profile(backend, params["DomainId"], params["UserProfileName"])
    if _live_apps(backend, profile.domain_id, "UserProfileName", profile.name):
        raise _in_use(f"Unable to delete UserProfile [{profile.arn}] because App(s) are associated with it.")
    del _state(backend).profiles[(profile.domain_id, profile.name)]
    return {}


# ---------------------------------------------------------------- spaces
def _space(backend: Any, domain_id: str, name: str) -> Space:
    space = _state(backend).spaces.get((domain_id, name))
    if space is None:
        raise _not_found(f"Space {name} does not exist in domain {domain_id}.")
    return space


def create_space(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    domain = _domain(backend, params["DomainId"])
    name = params["SpaceName"]
    state = _state(backend)
    if (domain.id, name) in state.spaces:
        raise _in_use(f"Space {state.spaces[(domain.id, name)].arn} already exists.")
    validate_settings(params.get("SpaceSettings"), "spaceSettings", space=True)
    owner = (params.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
    if owner is not None and (domain.id, owner) not in state.profiles:
        raise _invalid(f"User profile {owner} does not exist in domain {domain.id}.")
    space = Space(
        domain.id, name, _arn("space", f"{domain.id}/{name}", backend.account_id, backend.region_name),
        copy.deepcopy(params.get("SpaceSettings") or {}), _now(), list(params.get("Tags") or []),
        copy.deepcopy(params.get("OwnershipSettings")), copy.deepcopy(params.get("SpaceSharingSettings")),
        params.get("SpaceDisplayName"), f"https://{domain.id}.studio.{backend.region_name}.sagemaker.aws/"
        f"jupyterlab/{name}", uid=str(200001 + len(state.profiles) + len(state.spaces)))
    state.spaces[(domain.id, name)] = space
    return {"SpaceArn": space.arn}


def update_space(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    space = _space(backend, params["DomainId"], params["SpaceName"])
    validate_settings(params.get("SpaceSettings"), "spaceSettings", space=True)
    space.settings = merge(space.settings, params.get("SpaceSettings"))
    if params.get("SpaceDisplayName") is not None:
        space.display_name = params["SpaceDisplayName"]
    space.last_modified_time = _now()
    return {"SpaceArn": space.arn}


def delete_space(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    space = _space(backend, params["DomainId"], params["SpaceName"])
    if _live_apps(backend, space.domain_id, "SpaceName", space.name):
        raise _in_use(f"Unable to delete Space [{space.arn}] because App(s) are associated with it.")
    del _state(backend).spaces[(space.domain_id, space.name)]
    return {}


# ---------------------------------------------------------------- apps
def _owner(params: dict[str, Any]) -> tuple[str, str]:
    space, profile = params.get("SpaceName"), params.get("UserProfileName")
    if bool(space) == bool(profile):
        raise _invalid("Exactly one of UserProfileName and SpaceName must be specified.")
    return ("SpaceName", str(space)) if space else ("UserProfileName", str(profile))


def _app_key(params: dict[str, Any]) -> tuple[str, str, str, str, str]:
    owner_key, owner = _owner(params)
    return (params["DomainId"], owner_key, owner, params["AppType"], params["AppName"])


def _app(backend: Any, params: dict[str, Any]) -> App:
    key = _app_key(params)
    app = _state(backend).apps.get(key)
    if app is None:
        raise _not_found(f"App {_app_arn(backend, *key)} does not exist.")
    return app


def _app_arn(backend: Any, domain_id: str, _owner_key: str, owner: str, app_type: str, name: str) -> str:
    return _arn("app", f"{domain_id}/{owner}/{app_type.lower()}/{name}", backend.account_id, backend.region_name)


def _live_apps(backend: Any, domain_id: str, owner_key: str, owner: str) -> list[App]:
    return [app for app in _state(backend).apps.values()
            if (app.domain_id, app.owner_key, app.owner) == (domain_id, owner_key, owner) and app.status != "Deleted"]


def _default_spec(backend: Any, domain: Any, owner_key: str, owner: str, app_type: str) -> dict[str, Any]:
    """The owner's default ResourceSpec for the app type, else the domain's, else SageMaker's."""
    state = _state(backend)
    if owner_key == "SpaceName":
        own = state.spaces[(domain.id, owner)].settings
        domain_settings = domain.default_space_settings or {}
    else:
        own = state.profiles[(domain.id, owner)].settings
        domain_settings = domain.default_user_settings or {}
    for settings in (own, domain_settings, domain.default_user_settings or {}):
        spec = (settings.get(f"{app_type}AppSettings") or {}).get("DefaultResourceSpec")
        if spec:
            return copy.deepcopy(dict(spec))
    return {"InstanceType": "system" if app_type == "JupyterServer" else "ml.t3.medium"}


def create_app(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    domain = _domain(backend, params["DomainId"])
    key = _app_key(params)
    _, owner_key, owner, app_type, name = key
    state = _state(backend)
    if owner_key == "UserProfileName":
        _profile(backend, domain.id, owner)
        if app_type in SPACE_APP_TYPES:
            raise _invalid(f"{app_type} apps must be created in a space (SpaceName), not for a user profile.")
    else:
        _space(backend, domain.id, owner)
    existing = state.apps.get(key)
    if existing is not None and existing.status != "Deleted":
        raise _in_use(f"App {existing.arn} already exists with status {existing.status}.")
    _check_spec(params.get("ResourceSpec"), "resourceSpec")
    now = _now()
    spec = copy.deepcopy(params.get("ResourceSpec")) or _default_spec(backend, domain, owner_key, owner, app_type)
    app = App(domain.id, owner_key, owner, app_type, name, _app_arn(backend, *key), spec, now,
              list(params.get("Tags") or []), due=now + timedelta(seconds=APP_START_SECONDS),
              recovery_mode=params.get("RecoveryMode"))
    state.apps[key] = app
    return {"AppArn": app.arn}


def describe_app(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    return _app(backend, params).describe()


def delete_app(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    app = _app(backend, params)
    if app.status == "Deleted":
        raise _invalid(f"App {app.arn} has already been deleted.")
    if app.status == "Deleting":
        raise _in_use(f"App {app.arn} is being deleted.")
    app.status = "Deleting"
    app.due = _now() + timedelta(seconds=APP_DELETE_SECONDS)
    app.delete_calls += 1
    return {}


def _page(items: list[Any], params: dict[str, Any], sort_key: str = "creation_time") -> tuple[list[Any], str | None]:
    """Sort (``SortBy`` CreationTime or LastModifiedTime, default ``Descending``) and page."""
    if params.get("SortBy") == "LastModifiedTime":
        sort_key = "last_modified_time"
    items.sort(key=lambda item: (getattr(item, sort_key) or item.creation_time, item.name),
               reverse=(params.get("SortOrder") or "Descending") == "Descending")
    max_results = int(params.get("MaxResults") or LIST_DEFAULT_MAX)
    if not 1 <= max_results <= 100:
        raise _invalid(f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
                       "constraint: Member must have value between 1 and 100")
    token = params.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise _invalid(f"Invalid pagination token: {token}") from None
    end = start + max_results
    return items[start:end], (str(end) if end < len(items) else None)


def list_apps(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    wanted = {"domain_id": params.get("DomainIdEquals"), "user_profile": params.get("UserProfileNameEquals"),
              "space": params.get("SpaceNameEquals")}
    found = [app for app in _state(backend).apps.values()
             if wanted["domain_id"] in (None, app.domain_id)
             and (wanted["user_profile"] is None or (app.owner_key, app.owner) == ("UserProfileName", wanted["user_profile"]))
             and (wanted["space"] is None or (app.owner_key, app.owner) == ("SpaceName", wanted["space"]))]
    page, token = _page(found, params)
    result = _compact({"Apps": [app.summary() for app in page], "NextToken": token})
    for app in page:
        if app.vanish is not None:
            _vanish(backend, app)
    return result


def list_user_profiles(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    contains = params.get("UserProfileNameContains") or ""
    found = [profile for profile in _state(backend).profiles.values()
             if params.get("DomainIdEquals") in (None, profile.domain_id) and contains in profile.name]
    page, token = _page(found, params)
    return _compact({"UserProfiles": [profile.summary() for profile in page], "NextToken": token})


def list_spaces(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    contains = params.get("SpaceNameContains") or ""
    found = [space for space in _state(backend).spaces.values()
             if params.get("DomainIdEquals") in (None, space.domain_id) and contains in space.name]
    page, token = _page(found, params)
    return _compact({"Spaces": [space.summary() for space in page], "NextToken": token})


def _vanish(backend: Any, app: App) -> None:
    if app.vanish == "gone":
        del _state(backend).apps[app.key]
    else:
        app.status, app.due, app.vanish = "Deleted", None, None


def _find_app(app_arn: str) -> tuple[Any, App]:
    _, _, _, region, account, _ = app_arn.split(":", 5)
    backend = _backend(account, region)
    for app in _state(backend).apps.values():
        if app.arn == app_arn:
            return backend, app
    raise KeyError(f"no app {app_arn} in the emulator")


def set_app_activity(app_arn: str, *, last_user_activity: datetime | timedelta | None = NOW,
                     creation_time: datetime | timedelta | None = None, status: str | None = None) -> None:
    """Set the app's ``LastUserActivityTimestamp`` (default: now; a timedelta: that long ago; None: no
    activity), its ``CreationTime`` (None: unchanged) and its status (no transition left pending)."""
    _, app = _find_app(app_arn)
    app.last_user_activity = _when(last_user_activity, None)
    app.creation_time = _when(creation_time, app.creation_time) or app.creation_time
    if status is not None:
        if status not in APP_STATUSES:
            raise ValueError(f"status must be one of {APP_STATUSES}, not {status!r}")
        app.status, app.due = status, None
        app.last_health_check = _now().replace(microsecond=0) if status == "InService" else app.last_health_check


def vanish_app_after_next_list(app_arn: str, *, how: str = "deleted") -> None:
    """Right after the next ListApps page that lists it, the app is ``Deleted`` (``how="deleted"``)
    or unknown to SageMaker (``how="gone"``)."""
    if how not in ("deleted", "gone"):
        raise ValueError(f"how must be 'deleted' or 'gone', not {how!r}")
    _find_app(app_arn)[1].vanish = how


def delete_app_calls(app_arn: str) -> int:
    """How many DeleteApp calls SageMaker accepted for the app."""
    return _find_app(app_arn)[1].delete_calls


# ---------------------------------------------------------------- notebook instances
def _notebook(backend: Any, name: str) -> Any:
    return backend.get_notebook_instance(name)  # moto: ValidationException when unknown, as AWS


def _set_notebook_status(instance: Any, status: str, when: datetime | None = None) -> None:
    if instance.status == status:
        return
    instance.status = status
    instance.last_modified_time = when or _now()
    _, _, _, region, account, _ = instance.arn.split(":", 5)
    default_bus.deliver(_notebook_event(instance, account, region))


def _notebook_event(instance: Any, account: str, region: str) -> dict[str, Any]:
    detail = _compact({
        "NotebookInstanceArn": instance.arn,
        "NotebookInstanceName": instance.notebook_instance_name,
        "NotebookInstanceStatus": instance.status,
        "InstanceType": instance.instance_type,
        "RoleArn": instance.role_arn,
        "NotebookInstanceLifecycleConfigName": instance.lifecycle_config_name,
        "CreationTime": epoch_ms(instance.creation_time),
        "LastModifiedTime": epoch_ms(instance.last_modified_time),
        "Tags": {tag["Key"]: tag["Value"] for tag in instance.tags or []},
    })
    when = instance.last_modified_time.replace(tzinfo=UTC)
    return default_bus.service_event("aws.sagemaker", "SageMaker Notebook Instance State Change", account, region,
                                     [instance.arn], detail, time=when)


def notebook_instance_state_change_event(name: str, account_id: str | None = None,
                                         region: str = "us-east-1") -> dict[str, Any]:
    """The ``SageMaker Notebook Instance State Change`` event SageMaker would send for the instance
    now (fields of the EventBridge schema; times epoch milliseconds as strings, tags a map)."""
    account = account_id or _default_account()
    return _notebook_event(_notebook(_backend(account, region), name), account, region)


def stop_notebook_instance(backend: Any, name: str) -> None:
    _progress(backend)
    instance = _notebook(backend, name)
    if instance.status != "InService":
        raise _invalid(f"Status ({instance.status}) not in ([InService]). Unable to transition to (Stopping) for "
                       f"Notebook Instance ({instance.arn})")
    notebook = _state(backend).notebooks.setdefault(name, _Notebook())
    notebook.stop_calls += 1
    now = _now()
    notebook.due = now + timedelta(seconds=NOTEBOOK_STOP_SECONDS)
    _set_notebook_status(instance, "Stopping", now)


def set_notebook_instance_status(name: str, status: str, *, account_id: str | None = None,
                                 region: str = "us-east-1") -> None:
    """The instance is in ``status`` now, held there (no transition pending); its event is sent."""
    if status not in NOTEBOOK_STATUSES:
        raise ValueError(f"status must be one of {NOTEBOOK_STATUSES}, not {status!r}")
    backend = _backend(account_id, region)
    instance = _notebook(backend, name)
    _state(backend).notebooks.setdefault(name, _Notebook()).due = None
    _set_notebook_status(instance, status)


def notebook_stop_calls(name: str, *, account_id: str | None = None, region: str = "us-east-1") -> int:
    """How many StopNotebookInstance calls SageMaker accepted for the instance."""
    notebook = _state(_backend(account_id, region)).notebooks.get(name)
    return notebook.stop_calls if notebook else 0


# ---------------------------------------------------------------- CloudTrail
def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_lower_first(str(key)): _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    if isinstance(value, datetime):
        return value.strftime("%b %d, %Y %I:%M:%S %p")
    return value


def cloudtrail_api_call_event(event_name: str, request_parameters: dict[str, Any],
                              response_elements: dict[str, Any] | None = None, *, account_id: str | None = None,
                              region: str = "us-east-1", user_identity: dict[str, Any] | None = None,
                              user_agent: str = "Boto3") -> dict[str, Any]:
    """The ``AWS API Call via CloudTrail`` event for a SageMaker call (API member names in, CloudTrail's
    lower-camel-case names out)."""
    account = account_id or _default_account()
    now = _now()
    identity = user_identity or {
        "type": "IAMUser", "principalId": "AIDAEMULATOREXAMPLE", "arn": f"arn:aws:iam::{account}:user/emulator",
        "accountId": account, "accessKeyId": "emulator", "userName": "emulator",
    }
    detail = {
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sagemaker.amazonaws.com", "eventName": event_name, "awsRegion": region,
        "sourceIPAddress": "127.0.0.1", "userAgent": user_agent,
        "requestParameters": _camel(_compact(request_parameters)),
        "responseElements": _camel(response_elements) if response_elements else None,
        "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return default_bus.service_event("aws.sagemaker", "AWS API Call via CloudTrail", account, region, [], detail,
                                     time=now.replace(tzinfo=UTC))


def _assumed_role(role_arn: str, session: str, account: str, access_key: str) -> dict[str, Any]:
    role_name = role_arn.rsplit("/", 1)[-1]
    principal = f"AROAEMULATOR{abs(hash(role_arn)) % 10**8:08d}"
    return {"type": "AssumedRole", "principalId": f"{principal}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}", "accountId": account,
            "accessKeyId": access_key, "sessionContext": {"sessionIssuer": {
                "type": "Role", "principalId": principal, "arn": role_arn, "accountId": account,
                "userName": role_name}}}


def _caller(response: Any) -> dict[str, Any]:
    """CloudTrail's ``userIdentity`` for the request: the role moto's STS issued the access key
    for; else, inside an emulated Lambda function, the function's execution role; else a user."""
    import os

    from moto.sts.models import sts_backends

    access_key = response.get_access_key()
    account = response.current_account
    from moto.utilities.utils import get_partition

    sts = sts_backends[account][get_partition(response.region)]
    assumed = sts.get_assumed_role_from_access_key(access_key)
    if assumed is not None:
        role_arn = f"arn:aws:iam::{assumed.account_id}:role/{assumed.role_arn.rsplit('/', 1)[-1]}"
        return _assumed_role(role_arn, assumed.session_name, assumed.account_id, access_key)
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if function:
        from moto.awslambda.models import lambda_backends

        try:
            function_role = str(lambda_backends[account][response.region].get_function(function).role or "")
        except Exception:  # not a moto function: no role to name
            function_role = ""
        if function_role:
            return _assumed_role(function_role, function, account, access_key)
    return {"type": "IAMUser", "principalId": "AIDAEMULATOREXAMPLE", "arn": f"arn:aws:iam::{account}:user/emulator",
            "accountId": account, "accessKeyId": access_key, "userName": "emulator"}


# ---------------------------------------------------------------- tags
def _studio_resource(backend: Any, arn: str) -> Any | None:
    """The Studio resource (domain, user profile, space or app) an ARN names; None: not one."""
    resource = arn.split(":", 5)[-1]
    kind = resource.split("/", 1)[0]
    if kind == "domain":
        domain = backend.domains.get(resource.split("/", 1)[-1])
        if domain is None:
            raise _invalid(f"Could not find domain with ARN {arn}")
        if domain.tags is None:
            domain.tags = []
        return domain
    state = _state(backend)
    pools: dict[str, Any] = {"user-profile": state.profiles, "space": state.spaces, "app": state.apps}
    if kind not in pools:
        return None
    for item in pools[kind].values():
        if item.arn == arn:
            return item
    raise _invalid(f"Could not find {kind} with ARN {arn}")


# ---------------------------------------------------------------- moto patches
_ACTIONS = {
    "UpdateDomain": update_domain,
    "CreateUserProfile": create_user_profile, "UpdateUserProfile": update_user_profile,
    "DeleteUserProfile": delete_user_profile, "ListUserProfiles": list_user_profiles,
    "DescribeUserProfile": lambda b, p: _profile(b, p["DomainId"], p["UserProfileName"]).describe(),
    "CreateSpace": create_space, "UpdateSpace": update_space, "DeleteSpace": delete_space, "ListSpaces": list_spaces,
    "DescribeSpace": lambda b, p: _space(b, p["DomainId"], p["SpaceName"]).describe(),
    "CreateApp": create_app, "DescribeApp": describe_app, "DeleteApp": delete_app, "ListApps": list_apps,
}


def _members(action: str) -> list[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return list(model.operation_model(action).input_shape.members)


def _response_method(action: str) -> Any:
    handler = _ACTIONS[action]
    members = _members(action)

    def method(self: Any) -> Any:
        from moto.core.responses import ActionResult, EmptyResult

        backend = self.sagemaker_backend
        _progress(backend)
        params = {name: self._get_param(name) for name in members}
        params = {name: value for name, value in params.items() if value is not None}
        _check_fault(backend, action, params.get("DomainId") or params.get("DomainIdEquals"))
        result = handler(backend, params)
        if action in CLOUDTRAIL_EVENTS:
            default_bus.deliver(cloudtrail_api_call_event(
                action, params, result, account_id=self.current_account, region=self.region,
                user_identity=_caller(self), user_agent=self.headers.get("User-Agent", "Boto3")))
        return ActionResult(result) if result else EmptyResult()

    method.__name__ = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
    return method


def _patch_models(models: Any) -> None:
    original_domain_init = models.Domain.__init__
    original_create_notebook = models.SageMakerModelBackend.create_notebook_instance
    original_start_notebook = models.SageMakerModelBackend.start_notebook_instance
    original_delete_notebook = models.SageMakerModelBackend.delete_notebook_instance
    original_resource = models.SageMakerModelBackend._get_resource_from_arn
    original_add_tags = models.SageMakerModelBackend.add_tags

    def domain_init(self: Any, *args: Any, **kwargs: Any) -> None:
        for key, path in (("default_user_settings", "defaultUserSettings"),
                          ("default_space_settings", "defaultSpaceSettings")):
            validate_settings(kwargs.get(key), path)
        original_domain_init(self, *args, **kwargs)
        self.tags = self.tags or []

    def describe_domain(self: Any, domain_id: str) -> dict[str, Any]:
        _progress(self)
        _check_fault(self, "DescribeDomain", domain_id)
        return dict(_domain(self, domain_id).describe())

    def create_notebook(self: Any, *args: Any, **kwargs: Any) -> Any:
        instance = original_create_notebook(self, *args, **kwargs)
        _, _, _, region, account, _ = instance.arn.split(":", 5)
        default_bus.deliver(_notebook_event(instance, account, region))
        return instance

    def get_notebook(self: Any, name: str) -> Any:
        _progress(self)
        return original_get_notebook(self, name)

    def start_notebook(self: Any, name: str) -> None:
        instance = _notebook(self, name)
        if instance.status not in ("Stopped", "Failed"):
            raise _invalid(f"Status ({instance.status}) not in ([Stopped, Failed]). Unable to transition to "
                           f"(Pending) for Notebook Instance ({instance.arn})")
        previous = instance.status
        original_start_notebook(self, name)
        instance.status = previous
        _set_notebook_status(instance, "InService")

    def delete_notebook(self: Any, name: str) -> None:
        instance = _notebook(self, name)
        original_delete_notebook(self, name)
        _state(self).notebooks.pop(name, None)
        instance.status = "Stopped"
        _set_notebook_status(instance, "Deleting")

    def resource_from_arn(self: Any, arn: str) -> Any:
        resource = _studio_resource(self, arn)
        return resource if resource is not None else original_resource(self, arn)

    def add_tags(self: Any, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        resource = _studio_resource(self, arn)
        if resource is None:
            return list(original_add_tags(self, arn, tags))
        given = {tag["Key"] for tag in tags}
        resource.tags = [tag for tag in resource.tags if tag["Key"] not in given] + list(tags)
        return list(resource.tags)

    original_get_notebook = models.SageMakerModelBackend.get_notebook_instance
    models.Domain.__init__ = domain_init  # type: ignore[method-assign]
    models.SageMakerModelBackend.describe_domain = describe_domain  # type: ignore[method-assign]
    models.SageMakerModelBackend.create_notebook_instance = create_notebook  # type: ignore[method-assign]
    models.SageMakerModelBackend.get_notebook_instance = get_notebook  # type: ignore[method-assign]
    models.SageMakerModelBackend.start_notebook_instance = start_notebook  # type: ignore[method-assign]
    models.SageMakerModelBackend.stop_notebook_instance = stop_notebook_instance  # type: ignore[method-assign]
    models.SageMakerModelBackend.delete_notebook_instance = delete_notebook  # type: ignore[method-assign]
    models.SageMakerModelBackend._get_resource_from_arn = resource_from_arn  # type: ignore[method-assign]
    models.SageMakerModelBackend.add_tags = add_tags  # type: ignore[method-assign]


def apply() -> None:
    """Patch moto's SageMaker backend and responses (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.sagemaker import models, responses

    _patch_models(models)
    for action in _ACTIONS:
        method = _response_method(action)
        setattr(responses.SageMakerResponse, method.__name__, method)
    _applied = True
