"""The lowest-carbon start in [now, now + max delay]: the pure choice, its configuration, the zone map."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import botocore.loaders
import pytest
from pydantic import ValidationError

from greenrail.carbon_window import (
    REGION_NAME,
    ZONE_NAME,
    ForecastPoint,
    SourceError,
    WindowChoice,
    WindowConfig,
    choose_from_points,
    choose_from_profile,
    choose_window,
    grid_zones,
    zone_for,
)

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:greenrail/electricity-maps-AbCdEf"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 7, day, hour, minute, second, tzinfo=UTC)


def profile(base: float = 300.0, **hours: float) -> list[float]:
    """A flat daily profile with some hours set: profile(h03=100.0)."""
    figures = [base] * 24
    for name, value in hours.items():
        figures[int(name[1:])] = value
    return figures


# ---------------------------------------------------------------- the profile
def test_the_lowest_hour_later_today_is_chosen_at_its_start() -> None:
    start, chosen, now_value = choose_from_profile(profile(h14=120.0, h09=50.0), at(19, 10, 30), 24)
    # 09:00 tomorrow is lower still, and inside the 24-hour window
    assert (start, chosen, now_value) == (at(20, 9), 50.0, 300.0)
    start, chosen, _ = choose_from_profile(profile(h14=120.0, h09=50.0), at(19, 10, 30), 12)
    assert (start, chosen) == (at(19, 14), 120.0)


def test_midnight_wrap_moves_to_the_next_day() -> None:
    start, chosen, now_value = choose_from_profile(profile(h02=90.0, h23=200.0), at(19, 22, 30), 6)
    assert (start, chosen, now_value) == (at(20, 2), 90.0, 300.0)
    assert start.date() == at(20, 0).date()


def test_the_window_end_is_inclusive_and_nothing_beyond_it_counts() -> None:
    figures = profile(h02=90.0, h05=10.0)
    assert choose_from_profile(figures, at(19, 22), 4)[0] == at(20, 2)  # 02:00 is exactly now + 4 h
    assert choose_from_profile(figures, at(19, 22, 0, 1), 4)[0] == at(20, 2)
    assert choose_from_profile(figures, at(19, 22, 30), 3)[0] == at(19, 22, 30)  # 02:00 is past 01:30
    assert choose_from_profile(figures, at(19, 22), 7)[0] == at(20, 5)  # 05:00 is exactly now + 7 h


def test_a_window_wider_than_the_profile_repeats_the_day_and_keeps_the_earliest() -> None:
    figures = profile(h09=40.0)
    for hours in (24, 30, 48, 72, 24 * 365):
        assert choose_from_profile(figures, at(19, 10, 30), hours) == (at(20, 9), 40.0, 300.0)
    # the lowest hour is the one we are in: tomorrow's and later days' repeats do not win the tie
    assert choose_from_profile(profile(h10=40.0), at(19, 10, 30), 72) == (at(19, 10, 30), 40.0, 40.0)


def test_ties_go_to_the_earliest_hour_even_across_midnight() -> None:
    assert choose_from_profile(profile(h13=100.0, h15=100.0), at(19, 10, 30), 24)[0] == at(19, 13)
    assert choose_from_profile(profile(h23=100.0, h01=100.0), at(19, 20), 24)[0] == at(19, 23)
    assert choose_from_profile([250.0] * 24, at(19, 10, 30), 24)[0] == at(19, 10, 30)  # flat: at once


def test_the_current_hour_is_lowest_so_the_run_starts_now_not_in_the_past() -> None:
    now = at(19, 10, 40, 17)
    start, chosen, now_value = choose_from_profile(profile(h10=80.0), now, 24)
    assert start == now  # not 10:00 (past), not 10:00 tomorrow (a tie, later)
    assert (chosen, now_value) == (80.0, 80.0)
    assert choose_from_profile(profile(h10=80.0), at(19, 10), 24)[0] == at(19, 10)


def test_no_delay_allowed_means_now() -> None:
    assert choose_from_profile(profile(h11=1.0), at(19, 10, 30), 0) == (at(19, 10, 30), 300.0, 300.0)


def test_the_profile_is_in_utc_whatever_the_zone_of_now() -> None:
    paris_noon = datetime(2026, 7, 19, 12, 30, tzinfo=timezone(timedelta(hours=2)))  # 10:30 UTC
    start, _, now_value = choose_from_profile(profile(h10=70.0, h12=60.0), paris_noon, 3)
    assert (start, now_value) == (at(19, 12), 70.0)
    assert start.tzinfo == UTC


def test_bad_inputs_to_the_profile_choice_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        choose_from_profile(profile(), datetime(2026, 7, 19, 10), 24)
    with pytest.raises(ValueError, match="non-negative"):
        choose_from_profile(profile(), at(19, 10), -1)
    with pytest.raises(ValueError, match="24 hourly"):
        choose_from_profile([1.0] * 23, at(19, 10), 24)


# ---------------------------------------------------------------- forecast points (live sources)
def hourly(start: datetime, values: list[float], minutes: float | None = 60) -> list[ForecastPoint]:
    return [ForecastPoint(start + timedelta(hours=i), v, minutes) for i, v in enumerate(values)]


def test_forecast_points_choose_the_lowest_inside_the_window_clipped_to_now() -> None:
    points = hourly(at(19, 10), [300, 280, 90, 90, 50])  # 10:00 .. 14:00
    assert choose_from_points(points, at(19, 10, 30), 3) == (at(19, 12), 90.0, 300.0)  # 14:00 is outside
    assert choose_from_points(points, at(19, 10, 30), 4) == (at(19, 14), 50.0, 300.0)
    assert choose_from_points(hourly(at(19, 10), [60, 280]), at(19, 10, 30), 4) == (at(19, 10, 30), 60.0, 60.0)


def test_forecast_points_without_a_length_last_until_the_next_point() -> None:
    points = hourly(at(19, 10), [100, 200, 300], minutes=None)
    assert choose_from_points(points, at(19, 10, 59), 2) == (at(19, 10, 59), 100.0, 100.0)
    assert choose_from_points(points, at(19, 12, 59), 2) == (at(19, 12, 59), 300.0, 300.0)  # last: 60 min too
    assert choose_from_points(points, at(19, 13, 1), 2) is None


def test_the_sdk_optimal_point_wins_inside_the_window_and_is_ignored_outside() -> None:
    forecast = hourly(at(19, 10), [300, 200, 150, 250])
    assert choose_from_points(forecast, at(19, 10, 5), 3, preferred=[ForecastPoint(at(19, 12), 140.0, 60)]) == (
        at(19, 12), 140.0, 300.0)
    outside = [ForecastPoint(at(21, 3), 10.0, 60)]
    assert choose_from_points(forecast, at(19, 10, 5), 3, preferred=outside) == (at(19, 12), 150.0, 300.0)


def test_the_intensity_now_is_the_first_point_when_none_covers_now() -> None:
    points = hourly(at(19, 11), [200, 100])
    assert choose_from_points(points, at(19, 10, 30), 2) == (at(19, 12), 100.0, 200.0)
    assert choose_from_points([], at(19, 10, 30), 2) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        choose_from_points([ForecastPoint(at(19, 10), 2.0), ForecastPoint(datetime(2026, 7, 19, 11), 1.0)],
                           at(19, 10, 30), 2)


# ---------------------------------------------------------------- configuration
def test_the_documented_configuration_validates() -> None:
    config = WindowConfig.model_validate({
        "source": "profile",
        "profiles": {"eu-west-1": [310, 300, *([250] * 22)], "us-east-1": [400.5] * 24},
    })
    assert config.profiles["eu-west-1"][:2] == [310.0, 300.0]
    assert config.timeout_seconds == 5
    assert WindowConfig().source == "profile" and WindowConfig().profiles == {}


@pytest.mark.parametrize("figures", [[300] * 23, [300] * 25, [-1] + [300] * 23, [float("inf")] + [300] * 23,
                                     [float("nan")] + [300] * 23, [True] * 24, ["300"] * 24])
def test_a_profile_is_exactly_24_finite_non_negative_numbers(figures: list[Any]) -> None:
    with pytest.raises(ValidationError):
        WindowConfig(profiles={"eu-west-1": figures})


@pytest.mark.parametrize("region", ["EU-WEST-1", "eu-west", "ireland", "eu_west_1", "", "eu-west-1 "])
def test_profile_regions_look_like_aws_regions(region: str) -> None:
    with pytest.raises(ValidationError, match="not an AWS region name"):
        WindowConfig(profiles={region: [300] * 24})


def test_each_live_source_needs_its_endpoint_or_key() -> None:
    with pytest.raises(ValidationError, match="needs carbon_aware_sdk_url"):
        WindowConfig(source="carbon-aware-sdk")
    with pytest.raises(ValidationError, match="needs electricity_maps_secret_arn"):
        WindowConfig(source="electricity-maps")
    with pytest.raises(ValidationError, match="not a Secrets Manager secret ARN"):
        WindowConfig(source="electricity-maps", electricity_maps_secret_arn="my-key")
    assert WindowConfig(source="carbon-aware-sdk", carbon_aware_sdk_url="http://sdk.internal:8080/").carbon_aware_sdk_url \
        == "http://sdk.internal:8080"
    assert WindowConfig(source="electricity-maps", electricity_maps_secret_arn=SECRET_ARN).electricity_maps_url \
        == "https://api.electricitymap.org/v3"


@pytest.mark.parametrize("url", ["ftp://sdk/", "sdk.internal", "http://user:pw@sdk/", "http://sdk/?x=1",
                                 "http://sdk/#f", "http://sdk:99999/", "http://sd k/", "file:///etc/passwd"])
def test_bad_sdk_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        WindowConfig(source="carbon-aware-sdk", carbon_aware_sdk_url=url)


def test_the_api_key_never_travels_over_plain_http_except_to_loopback() -> None:
    with pytest.raises(ValidationError, match="must be https"):
        WindowConfig(electricity_maps_url="http://api.electricitymap.org/v3")
    assert WindowConfig(electricity_maps_url="http://127.0.0.1:8123/v3").electricity_maps_url == "http://127.0.0.1:8123/v3"


@pytest.mark.parametrize("changes", [{"timeout_seconds": 0.4}, {"timeout_seconds": 31}, {"sources": "profile"},
                                     {"source": "watttime"}, {"zones": {"eu-west-1": "IE; rm"}},
                                     {"zones": {"ireland": "IE"}}])
def test_out_of_bounds_and_unknown_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WindowConfig.model_validate(changes)


# ---------------------------------------------------------------- the choice and its figures
def test_the_avoided_emissions_are_kwh_times_the_intensity_difference() -> None:
    choice = WindowChoice(scheduled_for=at(20, 3), source="profile", intensity_chosen_g_per_kwh=100.0,
                          intensity_now_g_per_kwh=300.0)
    assert choice.kgco2e_avoided(150.0) == pytest.approx(30.0)  # 150 kWh x 200 g/kWh = 30 kg
    assert choice.kgco2e_avoided(0.0) == 0.0
    assert WindowChoice(scheduled_for=at(20, 3), source="none").kgco2e_avoided(150.0) is None
    with pytest.raises(ValueError):
        choice.kgco2e_avoided(-1.0)


def test_scheduled_for_is_always_utc() -> None:
    paris = datetime(2026, 7, 20, 5, tzinfo=timezone(timedelta(hours=2)))
    choice = WindowChoice(scheduled_for=paris, source="profile")
    assert choice.scheduled_for == at(20, 3) and choice.scheduled_for.tzinfo == UTC
    with pytest.raises(ValidationError):
        WindowChoice(scheduled_for=datetime(2026, 7, 20, 5), source="profile")


# ---------------------------------------------------------------- choose_window without HTTP
def fetch_returning(answer: Any) -> Any:
    def fetch(url: str, headers: Mapping[str, str], timeout: float) -> Any:
        return answer
    return fetch


def failing_fetch(reason: str) -> Any:
    def fetch(url: str, headers: Mapping[str, str], timeout: float) -> Any:
        raise SourceError(reason)
    return fetch


def test_no_profile_and_no_live_source_schedules_at_once() -> None:
    now = at(19, 10, 30)
    choice = choose_window("ap-south-2", now, 24, WindowConfig(profiles={"eu-west-1": profile()}))
    assert choice.scheduled_for == now and choice.source == "none"
    assert choice.note == "no profile for ap-south-2 and no live source: scheduled at once"
    assert choice.intensity_chosen_g_per_kwh is None and choice.kgco2e_avoided(10.0) is None


def test_the_profile_decides_when_it_is_the_source() -> None:
    choice = choose_window("eu-west-1", at(19, 22, 30), 6, WindowConfig(profiles={"eu-west-1": profile(h02=90.0)}))
    assert choice.model_dump() == {
        "scheduled_for": at(20, 2), "source": "profile", "zone": None, "intensity_chosen_g_per_kwh": 90.0,
        "intensity_now_g_per_kwh": 300.0, "note": None,
    }
    assert choice.kgco2e_avoided(1000.0) == pytest.approx(210.0)


def sdk_config(**changes: Any) -> WindowConfig:
    settings: dict[str, Any] = {"source": "carbon-aware-sdk", "carbon_aware_sdk_url": "http://sdk.internal",
                                "profiles": {"eu-west-1": profile(h02=90.0)}}
    return WindowConfig.model_validate({**settings, **changes})


def test_a_failing_live_source_falls_back_to_the_profile_and_says_so() -> None:
    choice = choose_window("eu-west-1", at(19, 22, 30), 6, sdk_config(), fetch=failing_fetch("timeout after 5 s"))
    assert (choice.source, choice.scheduled_for, choice.zone) == ("profile", at(20, 2), None)
    assert choice.note == "carbon-aware-sdk failed (timeout after 5 s): fell back to the profile"


def test_a_failing_live_source_without_a_profile_schedules_at_once_and_says_why() -> None:
    choice = choose_window("us-east-1", at(19, 22, 30), 6, sdk_config(), fetch=failing_fetch("HTTP 500"))
    assert (choice.source, choice.scheduled_for) == ("none", at(19, 22, 30))
    assert choice.note == "carbon-aware-sdk failed (HTTP 500): no profile for us-east-1: scheduled at once"


def test_a_region_without_a_grid_zone_falls_back_and_names_the_fix() -> None:
    config = sdk_config(profiles={"ap-southeast-3": profile(h02=90.0)})
    choice = choose_window("ap-southeast-3", at(19, 22, 30), 6, config, fetch=fetch_returning([]))
    assert choice.source == "profile"
    assert choice.note == ("carbon-aware-sdk failed (no grid zone for ap-southeast-3: add it under window.zones): "
                           "fell back to the profile")


@pytest.mark.parametrize("answer, reason", [
    ([], "garbage answer"), ({"forecastData": []}, "garbage answer"), ("<html>", "garbage answer"),
    ([{"location": "IE", "forecastData": [{"timestamp": "2026-07-19T10:00:00", "duration": 60, "value": 1}]}],
     "garbage answer"),  # a timestamp without its offset
    ([{"location": "IE", "forecastData": [{"timestamp": "2026-07-19T10:00:00Z", "duration": 60, "value": -5}]}],
     "garbage answer"),
    ([{"location": "IE", "forecastData": [], "optimalDataPoints": []}], "no forecast point inside the window"),
])
def test_an_answer_not_of_the_documented_shape_falls_back(answer: Any, reason: str) -> None:
    choice = choose_window("eu-west-1", at(19, 22, 30), 6, sdk_config(), fetch=fetch_returning(answer))
    assert choice.source == "profile"
    assert choice.note is not None and choice.note.startswith(f"carbon-aware-sdk failed ({reason}")
    assert choice.note.endswith("): fell back to the profile")


def test_the_live_source_chooses_when_it_answers() -> None:
    answer = [{"location": "IE", "forecastData": [
        {"location": "IE", "timestamp": "2026-07-19T22:00:00+00:00", "duration": 60, "value": 310.0},
        {"location": "IE", "timestamp": "2026-07-19T23:00:00+00:00", "duration": 60, "value": 120.0},
    ], "optimalDataPoints": []}]
    choice = choose_window("eu-west-1", at(19, 22, 30), 6, sdk_config(), fetch=fetch_returning(answer))
    assert (choice.source, choice.zone, choice.scheduled_for) == ("carbon-aware-sdk", "IE", at(19, 23))
    assert (choice.intensity_chosen_g_per_kwh, choice.intensity_now_g_per_kwh, choice.note) == (120.0, 310.0, None)


def test_a_key_secret_that_cannot_be_read_falls_back_with_the_error_code() -> None:
    class Denied(Exception):
        response = {"Error": {"Code": "AccessDeniedException"}}

    def read_key(arn: str) -> str:
        raise Denied("User is not authorized ... s3cr3t")

    config = WindowConfig(source="electricity-maps", electricity_maps_secret_arn=SECRET_ARN,
                          profiles={"eu-west-1": profile(h02=90.0)})
    choice = choose_window("eu-west-1", at(19, 22, 30), 6, config, fetch=fetch_returning({}), read_key=read_key)
    assert choice.note == ("electricity-maps failed (API key secret unreadable: AccessDeniedException): "
                           "fell back to the profile")


# ---------------------------------------------------------------- the zone map
def aws_regions() -> set[str]:
    data = botocore.loaders.create_loader().load_data("partitions")
    return {name for p in data["partitions"] if p["id"] == "aws" for name in p["regions"] if name != "aws-global"}


def test_the_shipped_zone_map_names_real_regions_and_says_where_each_entry_comes_from() -> None:
    zones = grid_zones()
    mapped = set(zones.electricity_maps) | set(zones.carbon_aware_sdk)
    assert mapped <= aws_regions()
    assert set(zones.region_notes) == mapped
    for region, zone in zones.electricity_maps.items():
        assert REGION_NAME.fullmatch(region) and ZONE_NAME.fullmatch(zone)
        assert f"({zone})" in zones.region_notes[region], region
    assert zones.source and zones.as_of.year >= 2026
    assert {"eu-west-1": "IE", "us-east-1": "US-MIDA-PJM", "us-west-2": "US-NW-BPAT", "eu-central-1": "DE",
            "eu-north-1": "SE-SE3"}.items() <= zones.electricity_maps.items()


def test_the_data_file_is_plain_json_with_its_sources() -> None:
    from importlib import resources

    raw = json.loads(resources.files("greenrail").joinpath("data/grid_zones.json").read_text())
    assert {"source", "as_of", "carbon_aware_sdk", "electricity_maps", "region_notes"} <= set(raw)


def test_the_policy_zones_override_the_shipped_map_for_either_source() -> None:
    config = WindowConfig(zones={"eu-west-1": "northeurope", "ap-southeast-3": "ID"})
    assert zone_for("eu-west-1", "carbon-aware-sdk", config) == "northeurope"
    assert zone_for("eu-west-1", "electricity-maps", config) == "northeurope"
    assert zone_for("ap-southeast-3", "electricity-maps", config) == "ID"
    assert zone_for("us-east-1", "carbon-aware-sdk", WindowConfig()) == "US-MIDA-PJM"  # the Electricity Maps name
    assert zone_for("ap-southeast-3", "electricity-maps", WindowConfig()) is None
