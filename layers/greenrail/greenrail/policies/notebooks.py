"""The notebooks policy: interactive environments that run when nobody uses them.

The whole rule, per kind of resource (each decided by a pure function over a typed snapshot):

* **Studio domain** (``decide_domain``): the default JupyterLab and Code Editor
  ``AppLifecycleManagement.IdleSettings`` must have ``LifecycleManagement: ENABLED``, an
  ``IdleTimeoutInMinutes`` and a ``MaxIdleTimeoutInMinutes`` (the most a user may choose) both at
  most ``max_idle_timeout_minutes`` (the API accepts 60-525600): otherwise ``set-idle-shutdown``
  (``target`` ``{"idle_timeout_minutes"}``); enforce: UpdateDomain of those settings only.
* **User profile** (``decide_user_profile``): a profile that overrides those settings past the
  cap (or disables them) gets ``set-idle-shutdown`` too; enforce: UpdateUserProfile.
* **App** (``decide_app``): InService (or stuck Pending) with no user activity for
  ``idle_minutes`` (``LastUserActivityTimestamp``, else since it was created) -> ``delete-app``;
  enforce: DeleteApp (the space and its storage stay). GPU apps are acted on first.
* **Space** (``decide_space``): a JupyterLab default instance type with accelerators (GPU,
  Trainium, Inferentia: ``greenrail.sagemaker_facts.is_accelerated``) while only CPU defaults
  are allowed -> ``set-default-instance`` (``target`` ``{"instance_type"}``); enforce: UpdateSpace.
* **Notebook instance** (``decide_notebook``): InService outside working hours (the policy's, or
  the instance's ``greenrail:working-hours`` tag) -> ``stop`` (storage persists); InService
  without an idle auto-stop lifecycle configuration -> ``recommend-auto-stop`` (notification only).

Exempt: ``greenrail:exempt=true`` on the resource, on its space or user profile, or on its
domain. Savings: the instance's hourly price x the hours it would otherwise have run (to the
next working-hours start; during working hours, another ``idle_minutes``), and the carbon
model's kgCO2e for those hours (one-off figures, in the decision's savings fields).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from greenrail.config import OWNER_TAG_KEY, BlastRadiusCap, Exemptions, Strict
from greenrail.decision import Decision, Mode, Savings
from greenrail.protocol import PolicyDefinition, Rule, Trigger
from greenrail.sagemaker_facts import is_accelerated

POLICY: Final = "notebooks"
WORKING_HOURS_TAG: Final = "greenrail:working-hours"
IDLE_MIN_MINUTES, IDLE_MAX_MINUTES = 60, 525_600  # IdleSettings bounds (SageMaker API reference)
IDLE_APPS = ("JupyterLabAppSettings", "CodeEditorAppSettings")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS: tuple[Day, ...] = DAYS[:5]
AppType = Literal["JupyterLab", "CodeEditor", "KernelGateway", "RSessionGateway", "RStudioServerPro",
                  "JupyterServer", "TensorBoard", "DetailedProfiler", "Canvas"]
# the apps that run on a billed instance of the user's choosing (JupyterServer is Studio Classic's
# free system instance; Canvas, TensorBoard and the profiler have their own lifecycles)
BILLED_APP_TYPES: tuple[AppType, ...] = ("JupyterLab", "CodeEditor", "KernelGateway", "RSessionGateway")
LIVE_APP_STATUSES = frozenset({"InService", "Pending"})
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
# What an idle auto-stop lifecycle script contains (the AWS samples' auto-stop-idle: autostop.py, IDLE_TIME)
_AUTO_STOP = re.compile(r"auto-?stop|idle_time|stop[-_]notebook[-_]instance", re.IGNORECASE)


# ---------------------------------------------------------------- working hours
def _clock(value: str) -> time:
    if value == "24:00":
        return time(0, 0)
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class WorkingHours(Strict):
    """When people work: ``start``-``end`` (local wall-clock time in ``timezone``) on ``days``.
    ``end`` at or before ``start`` runs past midnight (the day is the start's); ``24:00`` is midnight."""

    start: str = "08:00"
    end: str = "19:00"
    timezone: str = "UTC"
    days: list[Day] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)

    @field_validator("start", "end")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00-24:00)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            if not value or len(value) > 64:
                raise ValueError
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"time zone {value[:64]!r} does not exist (an IANA name such as Europe/Berlin "
                             "or America/New_York)") from exc
        return value

    @field_validator("days")
    @classmethod
    def _unique(cls, days: list[Day]) -> list[Day]:
        return sorted(set(days), key=DAYS.index)

    @model_validator(mode="after")
    def _not_empty(self) -> WorkingHours:
        if self.start == "24:00":
            raise ValueError("start 24:00: use 00:00")
        if self.start == self.end:
            raise ValueError("start and end are the same time: no working hours")
        return self

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _span(self, day: date) -> tuple[datetime, datetime]:
        """The working span that starts on ``day`` (local), in UTC."""
        zone = self.zone()
        start = datetime.combine(day, _clock(self.start), tzinfo=zone)
        end_day = day + timedelta(days=1) if self.end == "24:00" or self.end <= self.start else day
        end = datetime.combine(end_day, _clock(self.end), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def is_working(self, now: datetime) -> bool:
        local = now.astimezone(self.zone()).date()
        for day in (local - timedelta(days=1), local):  # a span from yesterday may run past midnight
            if DAYS[day.weekday()] in self.days:
                start, end = self._span(day)
                if start <= now < end:
                    return True
        return False

    def next_start(self, now: datetime) -> datetime:
        """The next working-hours start after ``now`` (UTC)."""
        local = now.astimezone(self.zone()).date()
        for offset in range(0, 9):
            day = local + timedelta(days=offset)
            if DAYS[day.weekday()] in self.days:
                start, _ = self._span(day)
                if start > now:
                    return start
        raise ValueError("no working day in the coming week")  # unreachable: days is never empty

    def label(self) -> str:
        return f"{self.start}-{self.end} {self.timezone} {'+'.join(self.days)}"


def parse_working_hours(text: str) -> WorkingHours:
    """A ``greenrail:working-hours`` tag value: ``HH:MM-HH:MM <IANA zone> <days>``, days as a range
    (``mon-fri``) or a list joined by ``+`` (``mon+wed+fri``); or ``always``. SageMaker tag values
    allow letters, digits, spaces and ``_.:/=+-@``: no commas. Raises ValueError."""
    text = text.strip()
    if text.lower() in ("always", "24x7"):
        return WorkingHours(start="00:00", end="24:00", timezone="UTC", days=list(DAYS))
    parts = text.split()
    if len(parts) not in (2, 3) or "-" not in parts[0]:
        raise ValueError("expected 'HH:MM-HH:MM <time zone> [days]', e.g. '08:00-19:00 Europe/Berlin mon-fri'")
    start, _, end = parts[0].partition("-")
    days: list[str] = ["mon", "tue", "wed", "thu", "fri"]
    if len(parts) == 3:
        spec = parts[2].lower()
        if "-" in spec:
            first, _, last = spec.partition("-")
            if first not in DAYS or last not in DAYS:
                raise ValueError(f"unknown day in {spec!r}")
            i, j = DAYS.index(first), DAYS.index(last)  # type: ignore[arg-type]
            days = [DAYS[(i + k) % 7] for k in range((j - i) % 7 + 1)]
        else:
            days = spec.split("+")
    from pydantic import ValidationError

    try:
        return WorkingHours(start=start, end=end, timezone=parts[1], days=days)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ValueError("; ".join(str(e["msg"]) for e in exc.errors())) from exc


# ---------------------------------------------------------------- configuration (policy document `notebooks:`)
class NotebooksPolicy(Strict):
    """The policy document's ``notebooks:`` section."""

    mode: Mode = Mode.DRY_RUN
    max_idle_timeout_minutes: int = Field(default=120, ge=IDLE_MIN_MINUTES, le=IDLE_MAX_MINUTES)
    idle_minutes: int = Field(default=180, ge=15, le=IDLE_MAX_MINUTES)
    app_types: list[AppType] = Field(default_factory=lambda: list(BILLED_APP_TYPES))
    allow_gpu_default: bool = False
    default_instance_type: str = Field(default="ml.t3.medium", pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    working_hours_tag_key: str = WORKING_HOURS_TAG
    price_overrides_usd_per_hour: dict[str, float] = Field(default_factory=dict)
    exemptions: Exemptions = Field(default_factory=Exemptions)
    blast_radius: BlastRadiusCap = Field(default_factory=lambda: BlastRadiusCap(max_actions_per_hour=20))

    @field_validator("default_instance_type")
    @classmethod
    def _cpu_only(cls, value: str) -> str:
        if is_accelerated(value):
            raise ValueError(f"{value} has accelerators: the default instance must be a CPU instance")
        return value

    @field_validator("price_overrides_usd_per_hour")
    @classmethod
    def _prices(cls, prices: dict[str, float]) -> dict[str, float]:
        for name, price in prices.items():
            if not price >= 0 or price == float("inf"):
                raise ValueError(f"price of {name} must be zero or more")
        return prices


# ---------------------------------------------------------------- snapshots
class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class IdleSettings(_Snapshot):
    lifecycle: str | None = None  # LifecycleManagement: ENABLED | DISABLED
    idle_timeout: int | None = None
    min_timeout: int | None = None
    max_timeout: int | None = None

    @classmethod
    def of(cls, app_settings: dict[str, Any] | None) -> IdleSettings:
        idle = ((app_settings or {}).get("AppLifecycleManagement") or {}).get("IdleSettings") or {}
        return cls(lifecycle=idle.get("LifecycleManagement"), idle_timeout=idle.get("IdleTimeoutInMinutes"),
                   min_timeout=idle.get("MinIdleTimeoutInMinutes"), max_timeout=idle.get("MaxIdleTimeoutInMinutes"))

    def api(self) -> dict[str, Any]:
        values = {"LifecycleManagement": self.lifecycle, "IdleTimeoutInMinutes": self.idle_timeout,
                  "MinIdleTimeoutInMinutes": self.min_timeout, "MaxIdleTimeoutInMinutes": self.max_timeout}
        return {k: v for k, v in values.items() if v is not None}

    @property
    def overrides(self) -> bool:
        return any(v is not None for v in (self.lifecycle, self.idle_timeout, self.min_timeout, self.max_timeout))


class DomainSnapshot(_Snapshot):
    kind: Literal["domain"] = "domain"
    domain_id: str
    name: str
    arn: str
    account: str
    region: str
    status: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)  # DefaultUserSettings, as described

    def idle(self, app: str) -> IdleSettings:
        return IdleSettings.of(self.settings.get(app))


class UserProfileSnapshot(DomainSnapshot):
    kind: Literal["user-profile"] = "user-profile"  # type: ignore[assignment]
    domain_tags: dict[str, str] = Field(default_factory=dict)  # settings: its UserSettings


class SpaceSnapshot(_Snapshot):
    kind: Literal["space"] = "space"
    domain_id: str
    name: str
    arn: str
    account: str
    region: str
    status: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    domain_tags: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)  # SpaceSettings, as described

    @property
    def instance_type(self) -> str | None:
        spec = (self.settings.get("JupyterLabAppSettings") or {}).get("DefaultResourceSpec") or {}
        value = spec.get("InstanceType")
        return str(value) if value else None


class AppSnapshot(_Snapshot):
    kind: Literal["app"] = "app"
    domain_id: str
    app_type: str
    name: str
    arn: str
    account: str
    region: str
    space_name: str | None = None
    user_profile_name: str | None = None
    status: str | None = None
    instance_type: str | None = None
    last_activity: datetime | None = None  # DescribeApp's LastUserActivityTimestamp
    created: datetime | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    owner_tags: dict[str, str] = Field(default_factory=dict)  # its space's (or user profile's)
    domain_tags: dict[str, str] = Field(default_factory=dict)

    @property
    def accelerated(self) -> bool:
        return bool(self.instance_type) and is_accelerated(str(self.instance_type))

    def state(self) -> str:
        """What one DeleteApp is for: the app's activity (or creation) time. A new session of
        the same app name is another state; the same idle app seen by two sweeps is one."""
        seen = self.last_activity or self.created
        return seen.astimezone(UTC).isoformat() if seen else "unknown"


class NotebookSnapshot(_Snapshot):
    kind: Literal["notebook-instance"] = "notebook-instance"
    name: str
    arn: str
    account: str
    region: str
    status: str | None = None
    instance_type: str | None = None
    lifecycle_config: str | None = None
    auto_stop: bool | None = None  # None: the lifecycle configuration could not be read
    last_modified: datetime | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    def state(self) -> str:
        return f"{self.status}@{self.last_modified.isoformat() if self.last_modified else ''}"


Resource = DomainSnapshot | UserProfileSnapshot | SpaceSnapshot | AppSnapshot | NotebookSnapshot


# ---------------------------------------------------------------- the rules (pure)
def capped(current: IdleSettings, cap: int, complete: bool) -> IdleSettings:
    """``current`` brought within ``cap``, changing as little as possible. ``complete`` (a
    domain): enabled, with a timeout and a maximum; else (a profile's override) only the
    offending values change."""
    enabled = "ENABLED" if complete or current.lifecycle == "DISABLED" else current.lifecycle
    maximum = current.max_timeout
    if maximum is None and complete or maximum is not None and maximum > cap:
        maximum = cap
    timeout = current.idle_timeout
    if timeout is None and complete or timeout is not None and timeout > cap:
        timeout = cap
    if timeout is not None and maximum is not None and timeout > maximum:
        timeout = maximum
    minimum = current.min_timeout
    if minimum is not None and timeout is not None and minimum > timeout:
        minimum = IDLE_MIN_MINUTES
    return IdleSettings(lifecycle=enabled, idle_timeout=timeout, min_timeout=minimum, max_timeout=maximum)


def _base(resource: Resource, mode: Mode, event_id: str | None) -> dict[str, Any]:
    return {"policy": POLICY, "resource": resource.arn, "account": resource.account, "region": resource.region,
            "mode": mode, "event_id": event_id, "status": resource.status, "owner": _owner(resource)}


def _owner(resource: Resource) -> str | None:
    """The ``greenrail:owner`` tag of the resource, else of an app's space or user profile, else of its domain."""
    layers = [resource.tags]
    if isinstance(resource, AppSnapshot):
        layers.append(resource.owner_tags)
    if isinstance(resource, UserProfileSnapshot | SpaceSnapshot | AppSnapshot):
        layers.append(resource.domain_tags)
    return next((tags[OWNER_TAG_KEY] for tags in layers if tags.get(OWNER_TAG_KEY)), None)


def _exempt(resource: Resource, policy: NotebooksPolicy) -> str | None:
    """Why the resource is exempt (its tag, its space's or profile's, its domain's), or None."""
    layers = [("resource", resource.tags)]
    if isinstance(resource, AppSnapshot):
        layers.append(("space or user profile", resource.owner_tags))
    if isinstance(resource, UserProfileSnapshot | SpaceSnapshot | AppSnapshot):
        layers.append(("domain", resource.domain_tags))
    for where, tags in layers:
        if policy.exemptions.exempts("" if where != "resource" else resource.name, tags):
            return f"exempt ({where} tag {policy.exemptions.tag_key}={policy.exemptions.tag_value} or name pattern)"
    return None


def _none(resource: Resource, mode: Mode, event_id: str | None, reason: str, **figures: Any) -> Decision:
    return Decision(**_base(resource, mode, event_id), action="none", compliant=True, reason=reason,
                    figures=figures, severity="INFORMATIONAL")


APP_LABELS = {"JupyterLabAppSettings": "JupyterLab", "CodeEditorAppSettings": "Code Editor"}


def _idle_problems(settings: dict[str, IdleSettings], cap: int, complete: bool) -> list[str]:
    """What breaks the cap, per app (``complete``: a domain, whose settings must all be there)."""
    problems = []
    for app, idle in settings.items():
        label = APP_LABELS.get(app, app)
        if idle.lifecycle == "DISABLED" or complete and idle.lifecycle is None:
            problems.append(f"{label} idle shutdown {'disabled' if idle.lifecycle else 'not set'}")
        elif complete and idle.idle_timeout is None:
            problems.append(f"{label} idle shutdown without a timeout")
        if idle.idle_timeout is not None and idle.idle_timeout > cap:
            problems.append(f"{label} idle timeout {idle.idle_timeout} min > {cap}")
        if idle.max_timeout is not None and idle.max_timeout > cap or complete and idle.max_timeout is None:
            problems.append(f"{label} users may raise the timeout to {idle.max_timeout or IDLE_MAX_MINUTES} min")
    return problems


def decide_domain(domain: DomainSnapshot, policy: NotebooksPolicy, mode: Mode, event_id: str | None = None) -> Decision:
    """``set-idle-shutdown`` for a domain (complete settings) or a user profile (its overrides)."""
    profile = isinstance(domain, UserProfileSnapshot)
    cap = policy.max_idle_timeout_minutes
    why = _exempt(domain, policy)
    if why:
        return _none(domain, mode, event_id, f"{why}: not evaluated")
    if domain.status in ("Deleting", "Failed", "Delete_Failed"):
        return _none(domain, mode, event_id, f"{domain.status}: nothing to set")
    current = {app: domain.idle(app) for app in IDLE_APPS}
    if profile:
        current = {app: idle for app, idle in current.items() if idle.overrides}
    problems = _idle_problems(current, cap, complete=not profile)
    figures = {"current": {app: idle.api() for app, idle in current.items()}, "max_idle_timeout_minutes": cap}
    what = "user profile" if profile else "domain"
    if not problems:
        return _none(domain, mode, event_id, f"{what} idle shutdown within {cap} min" if current else
                     f"{what} inherits its domain's idle shutdown", **figures)
    wanted = {app: capped(idle, cap, complete=not profile) for app, idle in current.items()}
    figures["idle_settings"] = {app: idle.api() for app, idle in wanted.items()}
    timeout = next((w.idle_timeout for w in wanted.values() if w.idle_timeout), cap)
    return Decision(**_base(domain, mode, event_id), action="set-idle-shutdown", target={"idle_timeout_minutes": timeout},
                    compliant=False, severity="MEDIUM", figures=figures,
                    reason=f"{what} {domain.name}: {'; '.join(problems)}: set idle shutdown after {timeout} min "
                           f"(users may choose at most {cap})")


def _price(instance_type: str | None, policy: NotebooksPolicy) -> tuple[float | None, str]:
    from greenrail.pricing import training_price
    from greenrail.sagemaker_facts import UnknownInstanceType

    if not instance_type:
        return None, "no instance type"
    if instance_type in policy.price_overrides_usd_per_hour:
        return policy.price_overrides_usd_per_hour[instance_type], "policy notebooks.price_overrides_usd_per_hour"
    try:
        price = training_price(instance_type)
    except UnknownInstanceType:
        return None, f"{instance_type} not in the price table (set notebooks.price_overrides_usd_per_hour)"
    return price.usd_per_hour, (f"SageMaker on-demand training list price ({price.source}); notebook and Studio "
                                "rates for the same type are within a few per cent")


def savings_for(instance_type: str | None, hours: float, region: str, policy: NotebooksPolicy) -> tuple[Savings, dict[str, Any]]:
    """Price x hours avoided and the carbon model's kgCO2e for them (either may be unknown: 0, said so)."""
    from greenrail import carbon

    usd_per_hour, price_note = _price(instance_type, policy)
    kg = None
    carbon_note = ""
    if instance_type:
        try:
            kg = carbon.estimate(instance_type, hours, region).kgco2e
        except (carbon.UnknownInstanceType, ValueError) as exc:
            carbon_note = str(exc)
    usd = usd_per_hour * hours if usd_per_hour is not None else None
    figures = {"instance_type": instance_type, "hours_avoided": round(hours, 3), "usd_per_hour": usd_per_hour,
               "price_source": price_note, "usd_avoided": None if usd is None else round(usd, 4),
               "kgco2e_avoided": None if kg is None else round(kg, 6),
               "savings_basis": "one-off: price x hours it would otherwise have run, and those hours' kgCO2e"}
    if carbon_note:
        figures["carbon_note"] = carbon_note
    return Savings(usd_per_month=round(usd or 0.0, 4), kgco2e_per_month=round(kg or 0.0, 6)), figures


def hours_avoided(hours: WorkingHours, now: datetime, fallback_minutes: int) -> tuple[float, str]:
    """Outside working hours: until the next start; during them: ``fallback_minutes``."""
    if hours.is_working(now):
        return fallback_minutes / 60, f"{fallback_minutes} min (working hours: another idle period)"
    start = hours.next_start(now)
    return (start - now).total_seconds() / 3600, f"until the next working-hours start {start.isoformat()}"


def decide_app(app: AppSnapshot, policy: NotebooksPolicy, now: datetime, mode: Mode,
               event_id: str | None = None) -> Decision:
    figures: dict[str, Any] = {"app_type": app.app_type, "instance_type": app.instance_type,
                               "accelerated": app.accelerated, "space": app.space_name,
                               "user_profile": app.user_profile_name,
                               "last_user_activity": app.last_activity.isoformat() if app.last_activity else None,
                               "created": app.created.isoformat() if app.created else None}
    why = _exempt(app, policy)
    if why:
        return _none(app, mode, event_id, f"{why}: not evaluated", **figures)
    if app.status not in LIVE_APP_STATUSES:
        return _none(app, mode, event_id, f"app {app.status}: not running", **figures)
    if app.app_type not in policy.app_types:
        return _none(app, mode, event_id, f"{app.app_type} apps are not governed (notebooks.app_types)", **figures)
    if app.instance_type == "system":
        return _none(app, mode, event_id, "runs on the system instance (not billed)", **figures)
    since, basis = (app.last_activity, "last user activity") if app.last_activity else (app.created, "created, no user activity since")
    if since is None:
        return _none(app, mode, event_id, "neither user activity nor creation time known: cannot tell idleness",
                     **figures)
    idle = max(timedelta(0), now - since)  # a timestamp in the future (clock skew) counts as activity now
    figures["idle_minutes"] = round(idle.total_seconds() / 60, 1)
    if idle < timedelta(minutes=policy.idle_minutes):
        return _none(app, mode, event_id, f"active: {basis} {figures['idle_minutes']:g} min ago "
                     f"(< {policy.idle_minutes})", **figures)
    hours, horizon = hours_avoided(policy.working_hours, now, policy.idle_minutes)
    savings, money = savings_for(app.instance_type, hours, app.region, policy)
    kind = "GPU " if app.accelerated else ""
    where = f"space {app.space_name}" if app.space_name else f"user {app.user_profile_name}"
    return Decision(**_base(app, mode, event_id), action="delete-app", target={}, compliant=False,
                    severity="MEDIUM" if app.accelerated else "LOW", figures={**figures, **money, "horizon": horizon},
                    savings=savings,
                    reason=f"{kind}{app.app_type} app {app.name} ({where}, {app.instance_type}, {app.status}): "
                           f"{basis} {figures['idle_minutes'] / 60:.1f} h ago >= {policy.idle_minutes} min idle: "
                           f"delete the app (the space and its storage stay); avoids {hours:.1f} h ({horizon})")


def decide_space(space: SpaceSnapshot, policy: NotebooksPolicy, mode: Mode, event_id: str | None = None) -> Decision:
    instance = space.instance_type
    figures: dict[str, Any] = {"instance_type": instance, "accelerated": bool(instance and is_accelerated(instance))}
    why = _exempt(space, policy)
    if why:
        return _none(space, mode, event_id, f"{why}: not evaluated", **figures)
    if space.status in ("Deleting", "Failed", "Delete_Failed"):
        return _none(space, mode, event_id, f"space {space.status}", **figures)
    if not figures["accelerated"] or policy.allow_gpu_default:
        return _none(space, mode, event_id, f"default instance {instance or 'unset'}: "
                     + ("accelerated defaults allowed" if policy.allow_gpu_default and figures["accelerated"]
                        else "no accelerator"), **figures)
    gpu, _ = _price(instance, policy)
    cpu, _ = _price(policy.default_instance_type, policy)
    figures["usd_per_hour_difference"] = round(gpu - cpu, 4) if gpu is not None and cpu is not None else None
    return Decision(**_base(space, mode, event_id), action="set-default-instance",
                    target={"instance_type": policy.default_instance_type}, compliant=False, severity="LOW",
                    figures=figures,
                    reason=f"space {space.name}: JupyterLab starts on {instance} (accelerated) by default; only CPU "
                           f"defaults are allowed: default {policy.default_instance_type} (users may still choose a GPU)")


def notebook_hours(notebook: NotebookSnapshot, policy: NotebooksPolicy) -> tuple[WorkingHours, str]:
    """The instance's working hours: its tag's, when it has a valid one, else the policy's."""
    tag = notebook.tags.get(policy.working_hours_tag_key)
    if tag is None:
        return policy.working_hours, "policy working hours"
    try:
        return parse_working_hours(tag), f"tag {policy.working_hours_tag_key}"
    except ValueError as exc:
        return policy.working_hours, f"policy working hours (tag {policy.working_hours_tag_key}={tag!r} ignored: {exc})"


def decide_notebook(notebook: NotebookSnapshot, policy: NotebooksPolicy, now: datetime, mode: Mode,
                    event_id: str | None = None) -> Decision:
    hours, source = notebook_hours(notebook, policy)
    figures: dict[str, Any] = {"instance_type": notebook.instance_type, "working_hours": hours.label(),
                               "working_hours_source": source, "lifecycle_config": notebook.lifecycle_config,
                               "auto_stop": notebook.auto_stop}
    why = _exempt(notebook, policy)
    if why:
        return _none(notebook, mode, event_id, f"{why}: not evaluated", **figures)
    if notebook.status != "InService":
        return _none(notebook, mode, event_id, f"notebook instance {notebook.status}: nothing to stop", **figures)
    if not hours.is_working(now):
        avoided, horizon = hours_avoided(hours, now, policy.idle_minutes)
        savings, money = savings_for(notebook.instance_type, avoided, notebook.region, policy)
        local = now.astimezone(hours.zone())
        return Decision(**_base(notebook, mode, event_id), action="stop", compliant=False, severity="LOW",
                        figures={**figures, **money, "horizon": horizon}, savings=savings,
                        reason=f"notebook instance {notebook.name} ({notebook.instance_type}) InService at "
                               f"{local:%a %H:%M} {hours.timezone}, outside working hours {hours.label()} ({source}): "
                               f"stop it (its storage persists); avoids {avoided:.1f} h ({horizon})")
    if notebook.auto_stop is False:
        return Decision(**_base(notebook, mode, event_id), action="recommend-auto-stop", compliant=False,
                        severity="INFORMATIONAL", figures=figures,
                        reason=f"notebook instance {notebook.name} has no idle auto-stop lifecycle configuration "
                               f"({notebook.lifecycle_config or 'none'}): add one (e.g. the AWS sample auto-stop-idle)")
    return _none(notebook, mode, event_id, f"in working hours {hours.label()} ({source})", **figures)


def decide(resource: Resource, policy: NotebooksPolicy, now: datetime | None = None, mode: Mode | None = None,
           event_id: str | None = None) -> Decision:
    """The decision for one resource of any kind (nothing is done here)."""
    mode, now = mode or policy.mode, now or datetime.now(UTC)
    if mode is Mode.OFF:
        return _none(resource, mode, event_id, "notebooks policy is off")
    if isinstance(resource, DomainSnapshot):  # and user profiles
        return decide_domain(resource, policy, mode, event_id)
    if isinstance(resource, SpaceSnapshot):
        return decide_space(resource, policy, mode, event_id)
    if isinstance(resource, AppSnapshot):
        return decide_app(resource, policy, now, mode, event_id)
    return decide_notebook(resource, policy, now, mode, event_id)


def priority(item: tuple[Decision, Resource]) -> tuple[int, int]:
    """The order of acting within a run: GPU apps first (the blast radius takes them first), then
    the other deletions and stops, then settings."""
    decision, resource = item
    gpu = isinstance(resource, AppSnapshot) and resource.accelerated
    order = {"delete-app": 0, "stop": 1, "set-idle-shutdown": 2, "set-default-instance": 3}
    return (0 if gpu and decision.action == "delete-app" else 1, order.get(decision.action, 9))


def subject(decision: Decision, resource: Resource) -> dict[str, Any]:
    """What one action is for (the idempotency key): the resource and its state."""
    if isinstance(resource, AppSnapshot):
        state = resource.state()
    elif isinstance(resource, NotebookSnapshot):
        state = resource.state() if decision.action == "stop" else str(resource.lifecycle_config)
    elif isinstance(resource, SpaceSnapshot):
        state = str(resource.instance_type)
    else:
        state = hashlib.sha256(json.dumps(decision.figures.get("current"), sort_keys=True).encode()).hexdigest()[:16]
    return {"policy": POLICY, "resource": decision.resource, "action": decision.action, "state": state,
            "mode": decision.mode.value, "target": decision.target}


def auto_stops(scripts: list[str]) -> bool:
    """Whether a lifecycle configuration's scripts (base64) set up an idle auto-stop."""
    for content in scripts:
        try:
            text = base64.b64decode(content, validate=False).decode("utf-8", "replace")
        except ValueError:
            text = content
        if _AUTO_STOP.search(text):
            return True
    return False


# ---------------------------------------------------------------- loading (through the adapters)
def _naive_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _location(arn: str) -> tuple[str, str]:
    from greenrail.arn import location
    from greenrail.aws import account_id, region

    account, where = location(arn)
    return account or account_id(), where or region()


def _arn(kind: str, path: str) -> str:
    from greenrail.aws import account_id, region
    from greenrail.settings import settings

    return f"arn:{settings().partition}:sagemaker:{region()}:{account_id()}:{kind}/{path}"


def load_domain(domain_id: str) -> DomainSnapshot:
    from greenrail.adapters import sagemaker, studio

    described = studio.describe_domain(domain_id)
    arn = str(described.get("DomainArn") or _arn("domain", domain_id))
    account, where = _location(arn)
    return DomainSnapshot(domain_id=domain_id, name=str(described.get("DomainName") or domain_id), arn=arn,
                          account=account, region=where, status=described.get("Status"), tags=sagemaker.list_tags(arn),
                          settings=described.get("DefaultUserSettings") or {})


def load_user_profile(domain: DomainSnapshot, name: str) -> UserProfileSnapshot:
    from greenrail.adapters import sagemaker, studio

    described = studio.describe_user_profile(domain.domain_id, name)
    arn = str(described.get("UserProfileArn") or _arn("user-profile", f"{domain.domain_id}/{name}"))
    settings = described.get("UserSettings") or {}
    return UserProfileSnapshot(domain_id=domain.domain_id, name=name, arn=arn, account=domain.account,
                               region=domain.region, status=described.get("Status"), settings=settings,
                               tags=sagemaker.list_tags(arn), domain_tags=domain.tags)


def load_space(domain: DomainSnapshot, name: str) -> SpaceSnapshot:
    from greenrail.adapters import sagemaker, studio

    described = studio.describe_space(domain.domain_id, name)
    arn = str(described.get("SpaceArn") or _arn("space", f"{domain.domain_id}/{name}"))
    return SpaceSnapshot(domain_id=domain.domain_id, name=name, arn=arn, account=domain.account, region=domain.region,
                         status=described.get("Status"), tags=sagemaker.list_tags(arn), domain_tags=domain.tags,
                         settings=described.get("SpaceSettings") or {})


def load_app(domain: DomainSnapshot, listed: dict[str, Any], owner_tags: dict[str, str]) -> AppSnapshot:
    """One app, described (ListApps has neither its ARN nor its last user activity)."""
    from greenrail.adapters import sagemaker, studio

    space, user = listed.get("SpaceName"), listed.get("UserProfileName")
    described = studio.describe_app(domain.domain_id, str(listed["AppType"]), str(listed["AppName"]), space, user)
    arn = str(described.get("AppArn") or _arn(
        "app", f"{domain.domain_id}/{space or user}/{listed['AppType']}/{listed['AppName']}".lower()))
    spec = described.get("ResourceSpec") or listed.get("ResourceSpec") or {}
    live = described.get("Status") in LIVE_APP_STATUSES
    return AppSnapshot(domain_id=domain.domain_id, app_type=str(listed["AppType"]), name=str(listed["AppName"]),
                       arn=arn, account=domain.account, region=domain.region, space_name=space, user_profile_name=user,
                       status=described.get("Status"), instance_type=spec.get("InstanceType"),
                       last_activity=_naive_utc(described.get("LastUserActivityTimestamp")),
                       created=_naive_utc(described.get("CreationTime") or listed.get("CreationTime")),
                       tags=sagemaker.list_tags(arn) if live else {}, owner_tags=owner_tags, domain_tags=domain.tags)


def load_domain_estate(domain_id: str, spaces: list[str] | None = None, apps: bool = True,
                       profiles: bool = True) -> list[Resource]:
    """A domain, its user profiles, spaces and apps (``spaces``: only those; the apps of a
    resource gone mid-sweep are skipped, not an error)."""
    from greenrail.adapters import studio

    domain = load_domain(domain_id)
    found: list[Resource] = [domain]
    owners: dict[str, dict[str, str]] = {}
    if profiles:
        for listed in studio.list_user_profiles(domain_id):
            try:
                profile = load_user_profile(domain, str(listed["UserProfileName"]))
            except studio.NotFound:
                continue
            found.append(profile)
            owners[f"user/{profile.name}"] = profile.tags
    names = spaces if spaces is not None else [str(s["SpaceName"]) for s in studio.list_spaces(domain_id)]
    for name in names:
        try:
            space = load_space(domain, name)
        except studio.NotFound:
            continue
        found.append(space)
        owners[f"space/{name}"] = space.tags
    if apps:
        for listed in studio.list_apps(domain_id):
            if listed.get("Status") not in LIVE_APP_STATUSES:
                continue
            owner = f"space/{listed['SpaceName']}" if listed.get("SpaceName") else f"user/{listed.get('UserProfileName')}"
            if spaces is not None and owner.removeprefix("space/") not in spaces:
                continue
            try:
                found.append(load_app(domain, listed, owners.get(owner, {})))
            except studio.NotFound:  # deleted by its user since ListApps
                continue
    return found


def load_notebook(name: str) -> NotebookSnapshot:
    from greenrail.adapters import sagemaker, studio

    described = studio.describe_notebook_instance(name)
    arn = str(described.get("NotebookInstanceArn") or _arn("notebook-instance", name.lower()))
    account, where = _location(arn)
    config = described.get("NotebookInstanceLifecycleConfigName")
    auto_stop: bool | None = False
    if config:
        try:
            auto_stop = auto_stops(studio.lifecycle_config_scripts(str(config)))
        except studio.NotFound:
            auto_stop = False
        except Exception:  # noqa: BLE001 - unreadable: no recommendation rather than a wrong one
            auto_stop = None
    return NotebookSnapshot(name=name, arn=arn, account=account, region=where,
                            status=described.get("NotebookInstanceStatus"), instance_type=described.get("InstanceType"),
                            lifecycle_config=config, auto_stop=auto_stop,
                            last_modified=_naive_utc(described.get("LastModifiedTime")), tags=sagemaker.list_tags(arn))


MAX_DOMAINS_IN_PARALLEL = 4  # bounded: many domains must not turn into a burst of throttled calls


def load_estate(errors: list[tuple[str, Exception]] | None = None) -> list[Resource]:
    """Every domain's estate (a few domains at a time) and every notebook instance of the account
    and region. A domain or instance that fails to load is reported in ``errors`` and skipped."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from greenrail.adapters import studio

    errors = errors if errors is not None else []
    found: list[Resource] = []
    domains = [str(d["DomainId"]) for d in studio.list_domains() if d.get("Status") not in ("Deleting", "Failed")]
    with ThreadPoolExecutor(max_workers=MAX_DOMAINS_IN_PARALLEL) as pool:
        # each task in a copy of this context: the account acted in (acting_in) and the emulator's
        # permission guard are context variables
        futures = {d: pool.submit(contextvars.copy_context().run, load_domain_estate, d) for d in domains}
        for domain_id, future in futures.items():
            try:
                found.extend(future.result())
            except studio.NotFound:
                continue
            except Exception as exc:  # noqa: BLE001 - one domain's failure does not stop the others
                errors.append((domain_id, exc))
    for listed in studio.list_notebook_instances():
        try:
            found.append(load_notebook(str(listed["NotebookInstanceName"])))
        except studio.NotFound:
            continue
        except Exception as exc:  # noqa: BLE001
            errors.append((str(listed["NotebookInstanceName"]), exc))
    return found


# ---------------------------------------------------------------- applying
def apply(decision: Decision, resource: Resource, policy: NotebooksPolicy, blast_radius: Any) -> Decision:
    """Carry out one decision (enforce mode), reading the resource again right before acting."""
    from botocore.exceptions import BotoCoreError, ClientError

    from greenrail.adapters import studio
    from greenrail.aws import error_code, is_permanent

    if decision.mode is not Mode.ENFORCE or decision.applied or decision.action in ("none", "recommend-auto-stop"):
        return decision
    if not blast_radius.acquire(f"{decision.resource}#{decision.action}#{subject(decision, resource)['state']}"):
        return decision.model_copy(update={"held_back": True, "reason": decision.reason +
                                           f"; not applied: blast radius of {policy.blast_radius.max_actions_per_hour} "
                                           "per hour reached"})
    try:
        note = _act(decision, resource, policy)
    except studio.NotFound:
        return decision.model_copy(update={"action": "none", "compliant": True, "severity": "INFORMATIONAL",
                                           "reason": decision.reason + "; gone before Greenrail acted (deleted by "
                                                     "its user): nothing to do"})
    except studio.Conflict as exc:
        return decision.model_copy(update={"error": exc.code, "reason": decision.reason +
                                           f"; not applied: {exc.code} (being changed): the next sweep tries again"})
    except (ClientError, BotoCoreError, ValueError) as exc:
        # permanent (AccessDenied...), or throttling and server errors that outlived botocore's
        # retries: this resource's action only; not remembered (flows.settle), so the next sweep
        # tries it again, and the sweep goes on with the other resources
        code = error_code(exc)
        later = "" if is_permanent(exc) else " after botocore's retries: the next sweep tries again"
        return decision.model_copy(update={"error": code, "reason": decision.reason + f"; not applied: {code}{later}"})
    if note:
        return decision.model_copy(update={"action": "none", "compliant": True, "severity": "INFORMATIONAL",
                                           "reason": decision.reason + f"; {note}: nothing to do"})
    return decision.model_copy(update={"applied": True, "compliant": True})


def _act(decision: Decision, resource: Resource, policy: NotebooksPolicy) -> str | None:
    """The AWS call of one decision; a reason (str) when a fresh read shows nothing is left to do."""
    from greenrail.adapters import studio

    if isinstance(resource, AppSnapshot):
        fresh = studio.describe_app(resource.domain_id, resource.app_type, resource.name, resource.space_name,
                                    resource.user_profile_name)
        if fresh.get("Status") not in LIVE_APP_STATUSES:
            return f"the app is {fresh.get('Status')} now"
        if _naive_utc(fresh.get("LastUserActivityTimestamp")) != resource.last_activity:
            return "the app was used again since it was read"
        studio.delete_app(resource.domain_id, resource.app_type, resource.name, resource.space_name,
                          resource.user_profile_name)
    elif isinstance(resource, UserProfileSnapshot):
        fresh_profile = studio.describe_user_profile(resource.domain_id, resource.name)
        settings = fresh_profile.get("UserSettings") or {}
        wanted = _capped_settings(settings, policy, complete=False)
        if not wanted:
            return "the profile no longer overrides past the cap"
        studio.update_user_profile_idle_settings(resource.domain_id, resource.name, settings, wanted)
    elif isinstance(resource, DomainSnapshot):
        fresh_domain = studio.describe_domain(resource.domain_id)
        settings = fresh_domain.get("DefaultUserSettings") or {}
        wanted = _capped_settings(settings, policy, complete=True)
        if not wanted:
            return "the domain's idle shutdown is within the cap now"
        studio.update_domain_idle_settings(resource.domain_id, settings, wanted)
    elif isinstance(resource, SpaceSnapshot):
        fresh_space = studio.describe_space(resource.domain_id, resource.name)
        studio.update_space_default_instance(resource.domain_id, resource.name, fresh_space.get("SpaceSettings") or {},
                                             str(decision.target["instance_type"]))
    else:
        fresh_notebook = studio.describe_notebook_instance(resource.name)
        if fresh_notebook.get("NotebookInstanceStatus") != "InService":
            return f"the notebook instance is {fresh_notebook.get('NotebookInstanceStatus')} now"
        studio.stop_notebook_instance(resource.name)
    return None


def _capped_settings(settings: dict[str, Any], policy: NotebooksPolicy, complete: bool) -> dict[str, dict[str, Any]]:
    """The idle settings to write, per app, for the apps whose settings break the cap (from a fresh read)."""
    cap = policy.max_idle_timeout_minutes
    wanted = {}
    for app in IDLE_APPS:
        idle = IdleSettings.of(settings.get(app))
        if not complete and not idle.overrides:
            continue
        if _idle_problems({app: idle}, cap, complete):
            wanted[app] = capped(idle, cap, complete).api()
    return wanted


def scan(policy: NotebooksPolicy, mode: Mode | None = None, now: datetime | None = None) -> list[Decision]:
    """Every domain, user profile, space, app and notebook instance now (``greenrail scan
    --policies notebooks``); acts in enforce mode within the blast radius counted in this
    process, GPU apps first; announces nothing."""
    from greenrail.state import BlastRadius

    mode, now = mode or policy.mode, now or datetime.now(UTC)
    errors: list[tuple[str, Exception]] = []
    resources = load_estate(errors)
    if errors and not resources:
        raise errors[0][1]
    blast = BlastRadius(POLICY, policy.blast_radius.max_actions_per_hour, table="")
    decided = sorted(((decide(r, policy, now, mode), r) for r in resources), key=priority)
    return [apply(d, r, policy, blast) for d, r in decided]


def _uses() -> tuple[Any, ...]:
    from greenrail import bus, document, state
    from greenrail.adapters import sagemaker, studio

    return (document.read_parameter, sagemaker.list_tags, studio.list_domains, studio.describe_domain,
            studio.update_domain_idle_settings, studio.list_user_profiles, studio.describe_user_profile,
            studio.update_user_profile_idle_settings, studio.list_spaces, studio.describe_space,
            studio.update_space_default_instance, studio.list_apps, studio.describe_app, studio.delete_app,
            studio.list_notebook_instances, studio.describe_notebook_instance, studio.lifecycle_config_scripts,
            studio.stop_notebook_instance, state.run_once, state.BlastRadius.acquire, bus.publish)


def _sweep_uses() -> tuple[Any, ...]:
    from greenrail.adapters import organizations

    # ListAccounts: the Organization's accounts, each swept through its member role
    return (*_uses(), organizations.active_accounts)


DEFINITION = PolicyDefinition(
    name=POLICY,
    summary="Studio idle shutdown, idle apps deleted, CPU-default spaces, notebook instances stopped out of hours",
    config=NotebooksPolicy,
    decide=decide,
    apply=apply,
    scan=scan,
    triggers=(
        Trigger("NotebooksSweepFunction", _sweep_uses, member=True),
        Trigger("NotebooksEventFunction", _uses, member=True, rules=(
            Rule("NotebookInstanceInService", ("sagemaker-notebook-instance-inservice.json",),
                 ("nearmiss/sagemaker-notebook-instance-stopped.json", "sagemaker-training-job-inprogress.json")),
            Rule("StudioApiCall", ("cloudtrail-sagemaker-create-app.json", "cloudtrail-sagemaker-update-domain.json"),
                 ("nearmiss/cloudtrail-sagemaker-delete-app.json", "nearmiss/cloudtrail-sagemaker-create-app-failed.json",
                  "nearmiss/cloudtrail-s3-put-bucket-tagging.json")),
        )),
    ),
)
