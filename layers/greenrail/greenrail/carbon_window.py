"""When to start a run: the lowest-carbon hour allowed, from an hourly profile or a live forecast.

``scheduled_for`` is the start of the lowest-intensity period in ``[now, now + max_delay_hours]``
for the region's grid; ties go to the earliest, and when the lowest is the period we are in,
``scheduled_for`` is ``now`` itself (never a time already past). Sources, in the order tried:

* ``carbon-aware-sdk``: a self-hosted Green Software Foundation Carbon Aware SDK Web API,
  ``GET {carbon_aware_sdk_url}/emissions/forecasts/current?location=<zone>&dataStartAt=<now>
  &dataEndAt=<now + max delay>&windowSize=60``. The answer is a list of forecasts, one per
  location, each with ``optimalDataPoints`` and ``forecastData`` points ``{location, timestamp,
  duration (minutes), value (gCO2e/kWh)}`` (the SDK's docs, "Carbon Aware WebApi"). The SDK's
  optimal point is used when it falls inside the window (clipped to ``now``); otherwise the
  lowest ``forecastData`` point inside the window.
* ``electricity-maps``: ``GET {electricity_maps_url}/carbon-intensity/forecast?zone=<zone>``
  with the header ``auth-token: <key>``; the key is read from Secrets Manager
  (``electricity_maps_secret_arn``: the bare key or JSON ``{"api_key": ...}``) and never
  logged. The answer is ``{zone, forecast: [{carbonIntensity, datetime}], updatedAt}``.
* ``profile`` (always the fallback): ``profiles[region]``, 24 gCO2e/kWh figures for the UTC
  hours 00..23, repeated day after day when the window is longer than a day.

Neither live source knows AWS region names: ``data/grid_zones.json`` maps regions to grid
zones (with its sources), and ``zones`` in the policy overrides it per region. A live source
that fails (no zone, the secret unreadable, a timeout, an error status, a redirect to another
host, an answer too large, not JSON or not of the documented shape, no point in the window)
falls back to the profile, and the choice's ``note`` names the source and the failure. With
neither a profile for the region nor a working live source, the run starts at once
(``source="none"``, and the note says why).

HTTP: ``urllib.request`` (no new dependency), ``timeout_seconds`` for the whole exchange,
answers capped at :data:`MAX_ANSWER_BYTES`, redirects followed only within the same scheme,
host and port. The "now" intensity of a live forecast is that of the point covering ``now``,
else of the first point inside the window.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from http.client import HTTPException
from importlib import resources
from typing import Annotated, Any, Final, Literal
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from greenrail.aws import client, error_code
from greenrail.config import Strict
from greenrail.permissions import calls
from greenrail.validation import HTTP_DEFAULT_PORTS, LOOPBACK_HOSTS, split_http_url

logger = logging.getLogger(__name__)

SourceName = Literal["profile", "carbon-aware-sdk", "electricity-maps"]
ChoiceSource = Literal["profile", "carbon-aware-sdk", "electricity-maps", "none"]

HOURS_PER_DAY: Final = 24
DEFAULT_ELECTRICITY_MAPS_URL: Final = "https://api.electricitymap.org/v3"
MAX_ANSWER_BYTES: Final = 1_000_000  # a 72-hour forecast is a few kB; anything near 1 MB is not one
SDK_WINDOW_MINUTES: Final = 60  # windowSize: the run is judged by the hour it starts in
DEFAULT_POINT_MINUTES: Final = 60.0  # a point's length when neither it nor its neighbours tell

# us-east-1, ap-southeast-5, us-gov-west-1, eu-isoe-west-1: what AWS region names look like.
REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
# US-MIDA-PJM, SE-SE3, northeurope, swedencentral_1: Electricity Maps zones and SDK location keys.
ZONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+")
_API_KEY = re.compile(r"[\x21-\x7e]{1,512}")  # printable ASCII, no spaces: safe in an HTTP header

Intensity = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]  # a number: not a bool, not a string
HourlyProfile = Annotated[list[Intensity], Field(min_length=HOURS_PER_DAY, max_length=HOURS_PER_DAY)]


# ---------------------------------------------------------------- configuration (retraining.window)
def _check_url(value: str, *, https_only_unless_loopback: bool) -> str:
    """An http(s) URL with a host and no credentials, query or fragment, without its trailing slash."""
    parts = split_http_url(value)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or a fragment")
    if https_only_unless_loopback and scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValueError("must be https:// (plain http only for a loopback host): the API key travels with it")
    return value.rstrip("/")


class WindowConfig(Strict):
    """``retraining.window`` in the policy document: where the hourly intensities come from."""

    source: SourceName = "profile"
    # gCO2e/kWh for each UTC hour 00..23, per AWS region
    profiles: dict[str, HourlyProfile] = Field(default_factory=dict)
    # AWS region -> grid zone (Electricity Maps) or location (Carbon Aware SDK); overrides data/grid_zones.json
    zones: dict[str, str] = Field(default_factory=dict)
    carbon_aware_sdk_url: str | None = None
    electricity_maps_secret_arn: str | None = None
    electricity_maps_url: str = DEFAULT_ELECTRICITY_MAPS_URL
    timeout_seconds: float = Field(default=5.0, ge=0.5, le=30)

    @field_validator("profiles")
    @classmethod
    def _profile_regions(cls, profiles: dict[str, list[float]]) -> dict[str, list[float]]:
        for region in profiles:
            if not REGION_NAME.fullmatch(region):
                raise ValueError(f"{region[:64]!r} is not an AWS region name (e.g. eu-west-1)")
        return profiles

    @field_validator("zones")
    @classmethod
    def _zone_names(cls, zones: dict[str, str]) -> dict[str, str]:
        for region, zone in zones.items():
            if not REGION_NAME.fullmatch(region):
                raise ValueError(f"{region[:64]!r} is not an AWS region name (e.g. eu-west-1)")
            if not ZONE_NAME.fullmatch(zone):
                raise ValueError(f"zone for {region}: letters, digits, '_', '.', '-', at most 64")
        return zones

    @field_validator("carbon_aware_sdk_url")
    @classmethod
    def _sdk_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, https_only_unless_loopback=False)

    @field_validator("electricity_maps_url")
    @classmethod
    def _maps_url(cls, value: str) -> str:
        return _check_url(value, https_only_unless_loopback=True)

    @field_validator("electricity_maps_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_ARN.fullmatch(value):
            raise ValueError("not a Secrets Manager secret ARN")
        return value

    @model_validator(mode="after")
    def _source_is_configured(self) -> WindowConfig:
        if self.source == "carbon-aware-sdk" and not self.carbon_aware_sdk_url:
            raise ValueError("source carbon-aware-sdk needs carbon_aware_sdk_url")
        if self.source == "electricity-maps" and not self.electricity_maps_secret_arn:
            raise ValueError("source electricity-maps needs electricity_maps_secret_arn (the secret holds the API key)")
        return self


# ---------------------------------------------------------------- the choice
class WindowChoice(BaseModel):
    """When the run starts, which source chose it, and the figures a decision carries."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    scheduled_for: AwareDatetime  # UTC
    source: ChoiceSource  # what actually chose it; "none": at once, for want of any figures
    zone: str | None = None  # the grid zone of a live forecast
    intensity_chosen_g_per_kwh: float | None = None
    intensity_now_g_per_kwh: float | None = None
    note: str | None = None  # why a live source was not used, or why the run starts at once

    @field_validator("scheduled_for")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def kgco2e_avoided(self, kwh: float) -> float | None:
        """kgCO2e avoided by starting at ``scheduled_for`` rather than now, for a run of ``kwh``."""
        if not math.isfinite(kwh) or kwh < 0:
            raise ValueError("kwh must be a finite, non-negative number")
        if self.intensity_chosen_g_per_kwh is None or self.intensity_now_g_per_kwh is None:
            return None
        return kwh * (self.intensity_now_g_per_kwh - self.intensity_chosen_g_per_kwh) / 1000


def _utc_now(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _check_delay(max_delay_hours: int) -> None:
    if isinstance(max_delay_hours, bool) or not isinstance(max_delay_hours, int) or max_delay_hours < 0:
        raise ValueError("max_delay_hours must be a non-negative whole number of hours")


def choose_from_profile(profile: Sequence[float], now: datetime, max_delay_hours: int) -> tuple[datetime, float, float]:
    """(start, intensity there, intensity now): the lowest hour of a daily UTC profile in the window.

    The candidates are ``now`` (the hour we are in) and every top of the hour up to and including
    ``now + max_delay_hours``; the profile repeats each day; ties go to the earliest.
    """
    if len(profile) != HOURS_PER_DAY:
        raise ValueError(f"a profile has {HOURS_PER_DAY} hourly figures, not {len(profile)}")
    _check_delay(max_delay_hours)
    now = _utc_now(now)
    end = now + timedelta(hours=max_delay_hours)
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    intensity_now = float(profile[now.hour])
    best_at, best = now, intensity_now
    # 23 tops of the hour after ours cover every other hour of the day; a later one repeats an
    # hour already seen (or ours), and ties go to the earliest: a window over a day changes nothing.
    for step in range(1, HOURS_PER_DAY):
        candidate = hour_start + timedelta(hours=step)
        if candidate > end:
            break
        value = float(profile[candidate.hour])
        if value < best:
            best_at, best = candidate, value
    return best_at, best, intensity_now


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast period: it starts at ``start`` and lasts ``minutes`` (None: up to the next point)."""

    start: datetime
    value: float  # gCO2e/kWh
    minutes: float | None = None


def _with_lengths(points: Iterable[ForecastPoint]) -> list[tuple[datetime, datetime, float]]:
    """(start, end, value), in time order; a point without a length lasts until the next one."""
    ordered = list(points)
    if any(point.start.utcoffset() is None for point in ordered):
        raise ValueError("forecast points must carry timezone-aware times")
    ordered.sort(key=lambda p: p.start)
    gaps = [(b.start - a.start).total_seconds() / 60 for a, b in zip(ordered, ordered[1:], strict=False)]
    spans: list[tuple[datetime, datetime, float]] = []
    for index, point in enumerate(ordered):
        minutes = point.minutes
        if minutes is None:  # up to the next point; the last one as long as the one before it
            minutes = next((gap for gap in [*gaps[index:index + 1], *reversed(gaps[:index])] if gap > 0),
                           DEFAULT_POINT_MINUTES)
        start = point.start.astimezone(UTC)
        spans.append((start, start + timedelta(minutes=minutes), point.value))
    return spans


def _inside(spans: list[tuple[datetime, datetime, float]], now: datetime, end: datetime) -> list[tuple[datetime, datetime, float]]:
    """The periods that overlap [now, end] (a zero-length one counts when it lies inside)."""
    return [(s, e, v) for s, e, v in spans if s <= end and (e > now or s >= now)]


def choose_from_points(
    points: Sequence[ForecastPoint],
    now: datetime,
    max_delay_hours: int,
    preferred: Sequence[ForecastPoint] = (),
) -> tuple[datetime, float, float] | None:
    """(start, intensity there, intensity now) from forecast points, or None if none is in the window.

    The start is the lowest period inside ``[now, now + max_delay_hours]``, clipped to ``now``;
    ties go to the earliest. ``preferred`` (the Carbon Aware SDK's optimal points) wins when one
    of them is inside the window. The intensity now is the period covering ``now``, else the
    first period in the window.
    """
    _check_delay(max_delay_hours)
    now = _utc_now(now)
    end = now + timedelta(hours=max_delay_hours)
    forecast = _inside(_with_lengths(points), now, end)
    optimal = _inside(_with_lengths(preferred), now, end)
    pool = optimal or forecast
    if not pool:
        return None
    start, _, chosen = min(pool, key=lambda span: (span[2], span[0]))  # lowest, then earliest
    reference = forecast or optimal
    current = next((span for span in reference if span[0] <= now < span[1]), reference[0])
    return max(start, now), chosen, current[2]


# ---------------------------------------------------------------- the zone map (data/grid_zones.json)
class GridZones(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    comment: str = Field(alias="_comment")
    source: str
    as_of: date
    carbon_aware_sdk_note: str
    carbon_aware_sdk: dict[str, str]
    electricity_maps: dict[str, str]
    region_notes: dict[str, str]


@lru_cache(maxsize=1)
def grid_zones() -> GridZones:
    text = resources.files("greenrail").joinpath("data/grid_zones.json").read_text(encoding="utf-8")
    return GridZones.model_validate_json(text)


def zone_for(region: str, source: SourceName, config: WindowConfig) -> str | None:
    """The grid zone (Electricity Maps) or location (Carbon Aware SDK) of an AWS region, or None."""
    if region in config.zones:
        return config.zones[region]
    shipped = grid_zones()
    if source == "carbon-aware-sdk":
        return shipped.carbon_aware_sdk.get(region) or shipped.electricity_maps.get(region)
    if source == "electricity-maps":
        return shipped.electricity_maps.get(region)
    return None


# ---------------------------------------------------------------- HTTP
class SourceError(Exception):
    """A live source gave nothing usable; ``str()`` is the short reason the decision's note shows."""


# (url, headers, timeout in seconds) -> the answer's parsed JSON; raises SourceError
Fetch = Callable[[str, Mapping[str, str], float], Any]


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or HTTP_DEFAULT_PORTS.get(scheme)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port (the API key header goes along)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if _origin(newurl) != _origin(req.full_url):
            fp.close()
            raise SourceError(f"redirected to another host (HTTP {code})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _shrink_socket_timeout(response: Any, seconds: float) -> None:
    """Best effort: let the next read wait no longer than the time left (urllib's timeout is per read)."""
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.01))
        except OSError:
            pass


def _read_capped(response: Any, deadline: float, timeout: float) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.strip().isdigit() and int(length) > MAX_ANSWER_BYTES:
        raise SourceError(f"answer larger than {MAX_ANSWER_BYTES // 1_000_000} MB")
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SourceError(f"timeout after {timeout:g} s")
        _shrink_socket_timeout(response, left)
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise SourceError(f"answer larger than {MAX_ANSWER_BYTES // 1_000_000} MB")
        chunks.append(chunk)


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or (isinstance(exc, URLError) and isinstance(exc.reason, TimeoutError))


def http_get_json(url: str, headers: Mapping[str, str], timeout: float) -> Any:
    """GET ``url`` and parse its JSON answer, within ``timeout`` seconds in all; raise SourceError.

    The messages name the failure (status, timeout, kind of error), never the headers.
    """
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "greenrail", **headers}, method="GET"
    )
    opener = urllib.request.build_opener(_SameOriginRedirects())
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            body = _read_capped(response, deadline, timeout)
    except SourceError:
        raise
    except HTTPError as exc:
        exc.close()
        raise SourceError(f"HTTP {exc.code}") from None
    except (URLError, OSError, HTTPException, ValueError) as exc:
        if _is_timeout(exc):
            raise SourceError(f"timeout after {timeout:g} s") from None
        reason = exc.reason if isinstance(exc, URLError) else exc
        raise SourceError(f"connection failed: {type(reason).__name__}") from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: [[[[...
        raise SourceError("garbage answer: not JSON") from None


# ---------------------------------------------------------------- the documented answers
class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class SdkPoint(_Answer):
    """EmissionsDataDTO: ``duration`` in minutes, ``value`` in gCO2e/kWh."""

    location: str | None = None
    timestamp: AwareDatetime
    duration: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    value: Intensity

    def point(self) -> ForecastPoint:
        return ForecastPoint(self.timestamp, self.value, self.duration or None)


class SdkForecast(_Answer):
    """EmissionsForecastDTO (``optimalDataPoint``: the single point of older SDK versions)."""

    location: str | None = None
    optimalDataPoints: list[SdkPoint] | None = None  # noqa: N815 - the SDK's field name
    optimalDataPoint: SdkPoint | None = None  # noqa: N815
    forecastData: list[SdkPoint] | None = None  # noqa: N815


_SDK_ANSWER: TypeAdapter[list[SdkForecast]] = TypeAdapter(Annotated[list[SdkForecast], Field(min_length=1)])


class MapsPoint(_Answer):
    carbonIntensity: Intensity | None = None  # noqa: N815 - the API's field name (null: no figure)
    datetime: AwareDatetime


class MapsForecast(_Answer):
    zone: str
    forecast: Annotated[list[MapsPoint], Field(min_length=1)]
    updatedAt: AwareDatetime | None = None  # noqa: N815


def _shape_error(exc: ValidationError) -> SourceError:
    errors = exc.errors(include_input=False, include_url=False)
    if not errors:
        return SourceError("garbage answer: not the documented shape")
    where = ".".join(str(part) for part in errors[0]["loc"]) or "answer"
    return SourceError(f"garbage answer: {where}: {errors[0]['msg']}"[:200])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sdk_forecast(
    config: WindowConfig, zone: str, now: datetime, max_delay_hours: int, fetch: Fetch
) -> tuple[list[ForecastPoint], list[ForecastPoint]]:
    """(forecastData, optimalDataPoints) of the Carbon Aware SDK's current forecast for ``zone``."""
    query = urlencode({
        "location": zone,
        "dataStartAt": _iso(now),
        "dataEndAt": _iso(now + timedelta(hours=max_delay_hours)),
        "windowSize": SDK_WINDOW_MINUTES,
    })
    answer = fetch(f"{config.carbon_aware_sdk_url}/emissions/forecasts/current?{query}", {}, config.timeout_seconds)
    try:
        forecasts = _SDK_ANSWER.validate_python(answer)
    except ValidationError as exc:
        raise _shape_error(exc) from None
    mine = [f for f in forecasts if (f.location or "").lower() == zone.lower()]
    if not mine and len(forecasts) > 1:
        raise SourceError(f"garbage answer: no forecast for location {zone}")
    forecast = (mine or forecasts)[0]
    optimal = list(forecast.optimalDataPoints or []) + ([forecast.optimalDataPoint] if forecast.optimalDataPoint else [])
    return [p.point() for p in forecast.forecastData or []], [p.point() for p in optimal]


def maps_forecast(config: WindowConfig, zone: str, key: str, fetch: Fetch) -> list[ForecastPoint]:
    """The Electricity Maps carbon-intensity forecast for ``zone`` (hourly points)."""
    url = f"{config.electricity_maps_url}/carbon-intensity/forecast?{urlencode({'zone': zone})}"
    answer = fetch(url, {"auth-token": key}, config.timeout_seconds)
    try:
        forecast = MapsForecast.model_validate(answer)
    except ValidationError as exc:
        raise _shape_error(exc) from None
    if forecast.zone.lower() != zone.lower():
        raise SourceError(f"garbage answer: a forecast for zone {forecast.zone[:64]}, not {zone}")
    return [ForecastPoint(p.datetime, p.carbonIntensity) for p in forecast.forecast if p.carbonIntensity is not None]


# ---------------------------------------------------------------- the Electricity Maps key
@calls("secretsmanager:GetSecretValue", central=True)
def api_key(secret_arn: str) -> str:
    """The Electricity Maps API key held by the secret: the bare key, or JSON ``{"api_key": ...}``.

    Errors name the secret and what is wrong with it, never its value.
    """
    value = client("secretsmanager").get_secret_value(SecretId=secret_arn).get("SecretString") or ""
    text = value.strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("api_key") or "").strip()
        except (ValueError, AttributeError):
            text = ""
    if not _API_KEY.fullmatch(text):
        raise SourceError("the secret holds no API key (expected the key or JSON with 'api_key')")
    return text


# ---------------------------------------------------------------- choosing
def _live(
    region: str, now: datetime, max_delay_hours: int, config: WindowConfig, fetch: Fetch,
    read_key: Callable[[str], str],
) -> WindowChoice:
    """The live source's choice; raises SourceError when it has none."""
    source = config.source
    zone = zone_for(region, source, config)
    if zone is None:
        raise SourceError(f"no grid zone for {region}: add it under window.zones")
    if source == "carbon-aware-sdk":
        points, optimal = sdk_forecast(config, zone, now, max_delay_hours, fetch)
    else:
        try:
            key = read_key(config.electricity_maps_secret_arn or "")
        except SourceError:
            raise
        except Exception as exc:  # botocore ClientError and the like: the code only
            raise SourceError(f"API key secret unreadable: {error_code(exc)}") from None
        points, optimal = maps_forecast(config, zone, key, fetch), []
    chosen = choose_from_points(points, now, max_delay_hours, preferred=optimal)
    if chosen is None:
        raise SourceError("no forecast point inside the window")
    scheduled_for, intensity, intensity_now = chosen
    return WindowChoice(
        scheduled_for=scheduled_for, source=source, zone=zone,
        intensity_chosen_g_per_kwh=intensity, intensity_now_g_per_kwh=intensity_now,
    )


def choose_window(
    region: str,
    now: datetime,
    max_delay_hours: int,
    config: WindowConfig,
    fetch: Fetch = http_get_json,
    read_key: Callable[[str], str] = api_key,
) -> WindowChoice:
    """When to start a run in ``region`` decided at ``now``: the live source, else the profile, else at once."""
    _check_delay(max_delay_hours)
    now = _utc_now(now)
    failure: str | None = None
    if config.source != "profile":
        try:
            return _live(region, now, max_delay_hours, config, fetch, read_key)
        except SourceError as exc:
            failure = f"{config.source} failed ({exc})"
            logger.warning("live carbon intensity source failed", extra={"source": config.source, "region": region,
                                                                          "error": str(exc)})
    profile = config.profiles.get(region)
    if profile is not None:
        scheduled_for, intensity, intensity_now = choose_from_profile(profile, now, max_delay_hours)
        return WindowChoice(
            scheduled_for=scheduled_for, source="profile",
            intensity_chosen_g_per_kwh=intensity, intensity_now_g_per_kwh=intensity_now,
            note=f"{failure}: fell back to the profile" if failure else None,
        )
    note = f"{failure}: no profile for {region}" if failure else f"no profile for {region} and no live source"
    return WindowChoice(scheduled_for=now, source="none", note=f"{note}: scheduled at once")
