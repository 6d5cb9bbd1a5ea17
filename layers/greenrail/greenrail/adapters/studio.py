"""SageMaker Studio and notebook-instance calls: domains, user profiles, spaces, apps, notebook instances.

Every List call is paginated (``NextToken``); throttling is botocore's (standard retry mode,
``greenrail.aws``). Errors are sorted into what the notebooks policy acts on:
:class:`NotFound` (deleted, perhaps by its user mid-sweep) and :class:`Conflict` (the resource
is being changed: ``ConflictException``, or a status that refuses the call; the next sweep
tries again). Everything else propagates as botocore's ClientError. No rule lives here.

The writes change only what the policy governs:

* ``update_domain_idle_settings`` and ``update_user_profile_idle_settings`` send the current
  ``JupyterLabAppSettings`` / ``CodeEditorAppSettings`` (read just before) with only their
  ``AppLifecycleManagement.IdleSettings`` changed, and nothing else of the settings;
* ``update_space_default_instance`` sends the space's current ``JupyterLabAppSettings`` with only
  ``DefaultResourceSpec.InstanceType`` changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from greenrail.adapters.sagemaker import _message
from greenrail.aws import client, error_code, pages
from greenrail.permissions import calls

PAGE_SIZE = 100  # the Studio List calls accept MaxResults up to 100
IDLE_APPS = ("JupyterLabAppSettings", "CodeEditorAppSettings")  # the apps with built-in idle shutdown


class NotFound(Exception):
    """The resource does not exist (any more)."""


class Conflict(Exception):
    """The resource is being changed (ConflictException) or its status refuses the call."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


def _sorted_error(exc: BaseException) -> Exception | None:
    code = error_code(exc)
    message = _message(exc).lower()
    if code in ("ResourceNotFound", "ResourceNotFoundException") or (
            code == "ValidationException" and ("not found" in message or "does not exist" in message
                                               or "could not find" in message or "already been deleted" in message)):
        return NotFound(_message(exc))
    if code in ("ConflictException", "ResourceInUse"):
        return Conflict(code, _message(exc))
    if code == "ValidationException" and ("status" in message or "state" in message):
        return Conflict(code, _message(exc))  # e.g. StopNotebookInstance on a Stopping instance
    return None


def _call(operation: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """One call of a client's ``operation``, its errors sorted (the caller holds the client: @calls)."""
    try:
        response: dict[str, Any] = operation(**kwargs)
    except Exception as exc:
        sorted_error = _sorted_error(exc)
        if sorted_error is not None:
            raise sorted_error from exc
        raise
    return response


def _pages(operation: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    return pages(operation, key, **kwargs, MaxResults=PAGE_SIZE)


# ---------------------------------------------------------------- domains
@calls("sagemaker:ListDomains")
def list_domains() -> list[dict[str, Any]]:
    return list(_pages(client("sagemaker").list_domains, "Domains"))


@calls("sagemaker:DescribeDomain")
def describe_domain(domain_id: str) -> dict[str, Any]:
    return _call(client("sagemaker").describe_domain, DomainId=domain_id)


def idle_settings_update(settings: dict[str, Any], idle_by_app: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``settings`` (a domain's DefaultUserSettings or a profile's UserSettings) reduced to the
    apps in ``idle_by_app`` (``JupyterLabAppSettings``, ``CodeEditorAppSettings``), each as it is
    with only its ``AppLifecycleManagement.IdleSettings`` replaced."""
    update: dict[str, Any] = {}
    for app, idle in idle_by_app.items():
        if app not in IDLE_APPS:
            raise ValueError(f"{app} has no idle settings")
        current = copy.deepcopy(settings.get(app) or {})
        current.setdefault("AppLifecycleManagement", {})["IdleSettings"] = dict(idle)
        update[app] = current
    return update


@calls("sagemaker:UpdateDomain")
def update_domain_idle_settings(domain_id: str, current_default_user_settings: dict[str, Any],
                                idle_by_app: dict[str, dict[str, Any]]) -> str:
    """UpdateDomain with the idle-shutdown apps' settings only (read-modify-write of IdleSettings)."""
    response = _call(client("sagemaker").update_domain, DomainId=domain_id,
                     DefaultUserSettings=idle_settings_update(current_default_user_settings, idle_by_app))
    return str(response.get("DomainArn", ""))


# ---------------------------------------------------------------- user profiles
@calls("sagemaker:ListUserProfiles")
def list_user_profiles(domain_id: str) -> list[dict[str, Any]]:
    return list(_pages(client("sagemaker").list_user_profiles, "UserProfiles", DomainIdEquals=domain_id))


@calls("sagemaker:DescribeUserProfile")
def describe_user_profile(domain_id: str, name: str) -> dict[str, Any]:
    return _call(client("sagemaker").describe_user_profile, DomainId=domain_id, UserProfileName=name)


@calls("sagemaker:UpdateUserProfile")
def update_user_profile_idle_settings(domain_id: str, name: str, current_user_settings: dict[str, Any],
                                      idle_by_app: dict[str, dict[str, Any]]) -> str:
    response = _call(client("sagemaker").update_user_profile, DomainId=domain_id, UserProfileName=name,
                     UserSettings=idle_settings_update(current_user_settings, idle_by_app))
    return str(response.get("UserProfileArn", ""))


# ---------------------------------------------------------------- spaces
@calls("sagemaker:ListSpaces")
def list_spaces(domain_id: str) -> list[dict[str, Any]]:
    return list(_pages(client("sagemaker").list_spaces, "Spaces", DomainIdEquals=domain_id))


@calls("sagemaker:DescribeSpace")
def describe_space(domain_id: str, name: str) -> dict[str, Any]:
    return _call(client("sagemaker").describe_space, DomainId=domain_id, SpaceName=name)


@calls("sagemaker:UpdateSpace")
def update_space_default_instance(domain_id: str, name: str, current_space_settings: dict[str, Any],
                                  instance_type: str) -> str:
    """UpdateSpace with the JupyterLab settings only, their default instance type changed."""
    jupyterlab = copy.deepcopy(current_space_settings.get("JupyterLabAppSettings") or {})
    jupyterlab.setdefault("DefaultResourceSpec", {})["InstanceType"] = instance_type
    response = _call(client("sagemaker").update_space, DomainId=domain_id, SpaceName=name,
                     SpaceSettings={"JupyterLabAppSettings": jupyterlab})
    return str(response.get("SpaceArn", ""))


# ---------------------------------------------------------------- apps
@calls("sagemaker:ListApps")
def list_apps(domain_id: str) -> list[dict[str, Any]]:
    """The domain's apps (ListApps has neither the ARN nor the last user activity: describe each)."""
    return list(_pages(client("sagemaker").list_apps, "Apps", DomainIdEquals=domain_id))


def _owner(space_name: str | None, user_profile_name: str | None) -> dict[str, str]:
    return {"SpaceName": space_name} if space_name else {"UserProfileName": str(user_profile_name)}


@calls("sagemaker:DescribeApp")
def describe_app(domain_id: str, app_type: str, app_name: str, space_name: str | None = None,
                 user_profile_name: str | None = None) -> dict[str, Any]:
    return _call(client("sagemaker").describe_app, DomainId=domain_id, AppType=app_type, AppName=app_name,
                 **_owner(space_name, user_profile_name))


@calls("sagemaker:DeleteApp")
def delete_app(domain_id: str, app_type: str, app_name: str, space_name: str | None = None,
               user_profile_name: str | None = None) -> None:
    """Delete the app (its space and storage stay)."""
    _call(client("sagemaker").delete_app, DomainId=domain_id, AppType=app_type, AppName=app_name,
          **_owner(space_name, user_profile_name))


# ---------------------------------------------------------------- notebook instances
@calls("sagemaker:ListNotebookInstances")
def list_notebook_instances() -> list[dict[str, Any]]:
    return list(_pages(client("sagemaker").list_notebook_instances, "NotebookInstances"))


@calls("sagemaker:DescribeNotebookInstance")
def describe_notebook_instance(name: str) -> dict[str, Any]:
    return _call(client("sagemaker").describe_notebook_instance, NotebookInstanceName=name)


@calls("sagemaker:DescribeNotebookInstanceLifecycleConfig")
def lifecycle_config_scripts(name: str) -> list[str]:
    """The OnCreate and OnStart scripts of a notebook instance lifecycle configuration (base64)."""
    response = _call(client("sagemaker").describe_notebook_instance_lifecycle_config,
                     NotebookInstanceLifecycleConfigName=name)
    return [str(hook.get("Content", "")) for key in ("OnCreate", "OnStart") for hook in response.get(key) or []]


@calls("sagemaker:StopNotebookInstance")
def stop_notebook_instance(name: str) -> None:
    """Stop the instance (its ML storage volume persists)."""
    _call(client("sagemaker").stop_notebook_instance, NotebookInstanceName=name)
