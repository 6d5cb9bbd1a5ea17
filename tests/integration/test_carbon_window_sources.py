"""The live carbon-intensity sources over real HTTP, against fakes on 127.0.0.1; the key under moto.

The fakes answer the documented shapes: the Carbon Aware SDK Web API's
``/emissions/forecasts/current`` (a list of EmissionsForecastDTO) and the Electricity Maps
``/carbon-intensity/forecast`` (``{zone, forecast: [{carbonIntensity, datetime}], updatedAt}``).
Timeouts here are 0.5 s, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from greenrail.carbon_window import WindowConfig, choose_window

NOW = datetime(2026, 7, 19, 13, 37, 49, tzinfo=UTC)
TIMEOUT = 0.5
API_KEY = "em-k3y-N3verL0gged"
SDK_PATH = "/emissions/forecasts/current"
MAPS_PATH = "/v3/carbon-intensity/forecast"
PROFILE = [300.0] * 24
PROFILE[2] = 90.0  # 02:00 UTC: the profile's choice


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # bytes/str as they are; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    trickle: float = 0.0  # between body bytes
    chunks: list[tuple[float, bytes]] | None = None  # (pause, bytes) pairs sent instead of the body


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeApi:
    base: str
    port: int
    replies: dict[str, Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)


def _answer(handler: BaseHTTPRequestHandler, reply: Reply, stop: threading.Event) -> None:
    """Send ``reply`` (after its delay, in its chunks or byte by byte); give up once the test ends."""
    if reply.delay and stop.wait(reply.delay):
        return
    body = reply.body if isinstance(reply.body, bytes | str) else json.dumps(reply.body)
    data = body.encode() if isinstance(body, str) else body
    handler.send_response(reply.status)
    for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), **reply.headers}.items():
        handler.send_header(key, value)
    handler.end_headers()
    if reply.chunks is None:
        pieces = [(reply.trickle, bytes([b])) for b in data] if reply.trickle else [(0.0, data)]
    else:
        pieces = reply.chunks
    for pause, piece in pieces:
        if pause and stop.wait(pause):
            return
        handler.wfile.write(piece)
        handler.wfile.flush()


@pytest.fixture
def serve() -> Iterator[Callable[[], FakeApi]]:
    """Start fakes on 127.0.0.1 (ephemeral ports); all are stopped at the end of the test."""
    stop = threading.Event()
    servers: list[ThreadingHTTPServer] = []

    def start() -> FakeApi:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                api.seen.append(Seen(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}))
                try:
                    _answer(self, api.replies.get(parts.path, Reply(404, {"error": "not found"})), stop)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        port = server.server_address[1]
        api = FakeApi(base=f"http://127.0.0.1:{port}", port=port)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return api

    yield start
    stop.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def point(hour_offset: int, value: float, minutes: int = 60, location: str = "IE") -> dict[str, Any]:
    start = NOW.replace(minute=0, second=0) + timedelta(hours=hour_offset)
    return {"location": location, "timestamp": start.isoformat(), "duration": minutes, "value": value}


def sdk_answer(optimal: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """EmissionsForecastDTO, as the SDK's Web API docs show it: hourly points from 13:00 UTC."""
    values = [310.0, 305.0, 290.0] + [280.0] * 11 + [150.0, 160.0] + [270.0] * 10  # 14 h on: 03:00 UTC
    return [{
        "generatedAt": "2026-07-19T13:35:00+00:00",
        "requestedAt": "2026-07-19T13:37:49+00:00",
        "location": "IE",
        "dataStartAt": "2026-07-19T13:37:49Z",
        "dataEndAt": "2026-07-20T13:37:49Z",
        "windowSize": 60,
        "optimalDataPoints": optimal if optimal is not None else [point(14, 150.0)],
        "forecastData": [point(i, v) for i, v in enumerate(values)],
    }]


def maps_answer(zone: str = "IE") -> dict[str, Any]:
    base = NOW.replace(minute=0, second=0)
    values = [320, 318, 250, 240, 210, 190, 205, 260]
    return {
        "zone": zone,
        "forecast": [{"carbonIntensity": v, "datetime": (base + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
                     for i, v in enumerate(values)],
        "updatedAt": "2026-07-19T13:05:12.000Z",
    }


def sdk_config(api: FakeApi, **changes: Any) -> WindowConfig:
    settings = {"source": "carbon-aware-sdk", "carbon_aware_sdk_url": api.base, "timeout_seconds": TIMEOUT,
                "profiles": {"eu-west-1": PROFILE}}
    return WindowConfig.model_validate({**settings, **changes})


# ---------------------------------------------------------------- Carbon Aware SDK
def test_the_sdk_forecast_chooses_its_optimal_point(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    api.replies[SDK_PATH] = Reply(body=sdk_answer())
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api))
    assert (choice.source, choice.zone, choice.note) == ("carbon-aware-sdk", "IE", None)
    assert choice.scheduled_for == datetime(2026, 7, 20, 3, tzinfo=UTC)
    assert (choice.intensity_chosen_g_per_kwh, choice.intensity_now_g_per_kwh) == (150.0, 310.0)
    assert choice.kgco2e_avoided(100.0) == pytest.approx(16.0)
    [request] = api.seen
    assert request.path == SDK_PATH
    assert request.query == {"location": ["IE"], "dataStartAt": ["2026-07-19T13:37:49Z"],
                             "dataEndAt": ["2026-07-20T13:37:49Z"], "windowSize": ["60"]}


def test_an_sdk_optimal_point_outside_the_window_is_replaced_from_forecast_data(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    api.replies[SDK_PATH] = Reply(body=sdk_answer(optimal=[point(30, 20.0)]))  # tomorrow 19:00: too late
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api))
    assert choice.source == "carbon-aware-sdk"
    assert (choice.scheduled_for, choice.intensity_chosen_g_per_kwh) == (datetime(2026, 7, 20, 3, tzinfo=UTC), 150.0)


def test_the_policy_zone_overrides_the_shipped_map(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    api.replies[SDK_PATH] = Reply(body=[{**sdk_answer()[0], "location": "northeurope"}])
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api, zones={"eu-west-1": "northeurope"}))
    assert (choice.source, choice.zone) == ("carbon-aware-sdk", "northeurope")
    assert api.seen[0].query["location"] == ["northeurope"]


def test_a_slow_answer_times_out_at_the_timeout_and_falls_back(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    api.replies[SDK_PATH] = Reply(body=sdk_answer(), delay=5.0)
    started = time.monotonic()
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api))
    elapsed = time.monotonic() - started
    assert choice.source == "profile" and choice.scheduled_for == datetime(2026, 7, 20, 2, tzinfo=UTC)
    assert choice.note == "carbon-aware-sdk failed (timeout after 0.5 s): fell back to the profile"
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 2.0  # not the 5-s delay (slack for a loaded machine)


def test_a_trickling_answer_is_cut_at_the_timeout_in_all(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    api.replies[SDK_PATH] = Reply(body=sdk_answer(), trickle=0.1)  # each byte well inside the timeout
    started = time.monotonic()
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api))
    elapsed = time.monotonic() - started
    assert choice.note == "carbon-aware-sdk failed (timeout after 0.5 s): fell back to the profile"
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 2.0  # not the 5-s delay (slack for a loaded machine)


def test_a_stalled_body_is_cut_at_the_deadline_not_a_full_timeout_later(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    # headers at once, one byte at 0.4 s, then nothing: the next read may only wait what is left
    # (a 2-s timeout here, so that the two outcomes, 2 s and 3.8 s, stay apart on a loaded machine)
    api.replies[SDK_PATH] = Reply(body=b"[" * 100, chunks=[(1.8, b"["), (8.0, b"]")])
    started = time.monotonic()
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api, timeout_seconds=2.0))
    elapsed = time.monotonic() - started
    assert choice.note == "carbon-aware-sdk failed (timeout after 2 s): fell back to the profile"
    assert 1.8 <= elapsed < 3.3  # not 1.8 + 2


@pytest.mark.parametrize("reply, reason", [
    (Reply(500, {"title": "Internal Server Error"}), "HTTP 500"),
    (Reply(400, {"errors": {"dataEndAt": ["out of range"]}}), "HTTP 400"),
    (Reply(body="<html>gateway</html>"), "garbage answer: not JSON"),
    (Reply(body=b"\xff\xfe\x00garbage"), "garbage answer: not JSON"),
    (Reply(body=b"[" * 100_000 + b"]" * 100_000), "garbage answer: not JSON"),  # nested past the recursion limit
    (Reply(body={"optimalDataPoints": []}), "garbage answer: answer: Input should be a valid list"),
    (Reply(body=[{"location": "IE", "forecastData": [{"timestamp": "soon", "value": 1}]}]), "garbage answer"),
    (Reply(body=[]), "garbage answer"),
    (Reply(body=b"[" + b" " * 1_000_001 + b"]"), "answer larger than 1 MB"),
])
def test_an_error_or_garbage_answer_falls_back_to_the_profile(
    serve: Callable[[], FakeApi], reply: Reply, reason: str
) -> None:
    api = serve()
    api.replies[SDK_PATH] = reply
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api))
    assert choice.source == "profile" and choice.scheduled_for == datetime(2026, 7, 20, 2, tzinfo=UTC)
    assert choice.note is not None and choice.note.startswith(f"carbon-aware-sdk failed ({reason}")
    assert choice.note.endswith(": fell back to the profile")
    assert (choice.intensity_chosen_g_per_kwh, choice.intensity_now_g_per_kwh) == (90.0, 300.0)


def test_an_answer_too_large_without_a_content_length_is_cut_too(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    api.replies[SDK_PATH] = Reply(body=b"[" + b" " * 1_000_001 + b"]", headers={"Content-Length": "2"})
    # a lying Content-Length: the reader stops at 2 bytes, "[ " is not JSON
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api))
    assert choice.note == "carbon-aware-sdk failed (garbage answer: not JSON): fell back to the profile"


def test_a_redirect_to_another_host_is_not_followed(serve: Callable[[], FakeApi]) -> None:
    api, elsewhere = serve(), serve()
    elsewhere.replies[SDK_PATH] = Reply(body=sdk_answer())
    api.replies[SDK_PATH] = Reply(302, "", headers={"Location": f"http://localhost:{elsewhere.port}{SDK_PATH}"})
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api))
    assert choice.note == "carbon-aware-sdk failed (redirected to another host (HTTP 302)): fell back to the profile"
    assert elsewhere.seen == []  # nothing reached the other host


def test_a_redirect_on_the_same_host_is_followed(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    api.replies[SDK_PATH] = Reply(307, "", headers={"Location": "/v2/forecast"})
    api.replies["/v2/forecast"] = Reply(body=sdk_answer())
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api))
    assert (choice.source, choice.intensity_chosen_g_per_kwh) == ("carbon-aware-sdk", 150.0)
    assert [s.path for s in api.seen] == [SDK_PATH, "/v2/forecast"]


def test_an_unreachable_source_falls_back(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    with socket.socket() as sock:  # a port nothing listens on: bind, read the port, close
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    choice = choose_window("eu-west-1", NOW, 24, sdk_config(api, carbon_aware_sdk_url=closed))
    assert choice.note == "carbon-aware-sdk failed (connection failed: ConnectionRefusedError): fell back to the profile"


def test_a_failing_source_without_a_profile_schedules_at_once(serve: Callable[[], FakeApi]) -> None:
    api = serve()
    api.replies[SDK_PATH] = Reply(503, "")
    choice = choose_window("us-east-1", NOW, 24, sdk_config(api))
    assert (choice.source, choice.scheduled_for) == ("none", NOW)
    assert choice.note == "carbon-aware-sdk failed (HTTP 503): no profile for us-east-1: scheduled at once"
    assert api.seen[0].query["location"] == ["US-MIDA-PJM"]


# ---------------------------------------------------------------- Electricity Maps (key in Secrets Manager)
@pytest.fixture
def secret() -> Iterator[Callable[[str], str]]:
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        names = iter(range(100))

        def create(value: str) -> str:
            return str(secrets.create_secret(Name=f"greenrail/electricity-maps-{next(names)}",
                                             SecretString=value)["ARN"])

        yield create


def maps_config(api: FakeApi, secret_arn: str, **changes: Any) -> WindowConfig:
    settings = {"source": "electricity-maps", "electricity_maps_url": f"{api.base}/v3",
                "electricity_maps_secret_arn": secret_arn, "timeout_seconds": TIMEOUT,
                "profiles": {"eu-west-1": PROFILE}}
    return WindowConfig.model_validate({**settings, **changes})


@pytest.mark.parametrize("stored", [API_KEY, f"  {API_KEY}\n", json.dumps({"api_key": API_KEY})])
def test_electricity_maps_chooses_with_the_key_from_secrets_manager(
    serve: Callable[[], FakeApi], secret: Callable[[str], str], stored: str
) -> None:
    api = serve()
    api.replies[MAPS_PATH] = Reply(body=maps_answer())
    choice = choose_window("eu-west-1", NOW, 24, maps_config(api, secret(stored)))
    assert (choice.source, choice.zone, choice.note) == ("electricity-maps", "IE", None)
    assert choice.scheduled_for == datetime(2026, 7, 19, 18, tzinfo=UTC)  # 190 g at 18:00
    assert (choice.intensity_chosen_g_per_kwh, choice.intensity_now_g_per_kwh) == (190.0, 320.0)
    [request] = api.seen
    assert request.query == {"zone": ["IE"]} and request.headers["auth-token"] == API_KEY


def test_electricity_maps_within_a_short_window_stays_inside_it(
    serve: Callable[[], FakeApi], secret: Callable[[str], str]
) -> None:
    api = serve()
    api.replies[MAPS_PATH] = Reply(body=maps_answer())
    choice = choose_window("eu-west-1", NOW, 2, maps_config(api, secret(API_KEY)))  # until 15:37:49
    assert (choice.scheduled_for, choice.intensity_chosen_g_per_kwh) == (datetime(2026, 7, 19, 15, tzinfo=UTC), 250.0)


def test_the_key_never_reaches_a_log_or_the_note(
    serve: Callable[[], FakeApi], secret: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    api = serve()
    api.replies[MAPS_PATH] = Reply(401, {"message": f"invalid token {API_KEY}"})
    caplog.set_level(logging.DEBUG, logger="greenrail")
    choice = choose_window("eu-west-1", NOW, 24, maps_config(api, secret(API_KEY)))
    assert choice.note == "electricity-maps failed (HTTP 401): fell back to the profile"
    assert api.seen[0].headers["auth-token"] == API_KEY
    assert API_KEY not in caplog.text and API_KEY not in choice.model_dump_json()
    assert any("live carbon intensity source failed" in r.getMessage() for r in caplog.records)


def test_a_forecast_for_another_zone_is_garbage(serve: Callable[[], FakeApi], secret: Callable[[str], str]) -> None:
    api = serve()
    api.replies[MAPS_PATH] = Reply(body=maps_answer(zone="GB"))
    choice = choose_window("eu-west-1", NOW, 24, maps_config(api, secret(API_KEY)))
    assert choice.note == ("electricity-maps failed (garbage answer: a forecast for zone GB, not IE): "
                           "fell back to the profile")


@pytest.mark.parametrize("stored", ["", "   ", json.dumps({"key": API_KEY}), "two words", "{not json"])
def test_a_secret_without_a_usable_key_falls_back_and_nothing_is_sent(
    serve: Callable[[], FakeApi], secret: Callable[[str], str], stored: str
) -> None:
    api = serve()
    api.replies[MAPS_PATH] = Reply(body=maps_answer())
    choice = choose_window("eu-west-1", NOW, 24, maps_config(api, secret(stored) if stored else secret(" ")))
    assert choice.note == ("electricity-maps failed (the secret holds no API key (expected the key or JSON with "
                           "'api_key')): fell back to the profile")
    assert api.seen == []


def test_a_missing_secret_falls_back_with_its_error_code(
    serve: Callable[[], FakeApi], secret: Callable[[str], str]
) -> None:
    api = serve()
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:greenrail/absent-AbCdEf"
    choice = choose_window("eu-west-1", NOW, 24, maps_config(api, missing))
    assert choice.note == ("electricity-maps failed (API key secret unreadable: ResourceNotFoundException): "
                           "fell back to the profile")
    assert api.seen == []


def test_electricity_maps_timeout_falls_back_in_about_the_timeout(
    serve: Callable[[], FakeApi], secret: Callable[[str], str]
) -> None:
    api = serve()
    api.replies[MAPS_PATH] = Reply(body=maps_answer(), delay=5.0)
    arn = secret(API_KEY)
    started = time.monotonic()
    choice = choose_window("eu-west-1", NOW, 24, maps_config(api, arn))
    elapsed = time.monotonic() - started
    assert choice.note == "electricity-maps failed (timeout after 0.5 s): fell back to the profile"
    assert elapsed < TIMEOUT + 2.5  # not the 5-s delay; the Secrets Manager read (moto, in process) included
