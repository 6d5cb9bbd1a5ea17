"""How ``greenrail scan`` fails: a misspelt region, one policy failing, timeouts of the CLI's clients."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenrail_cli import main as cli

MIB = 1024 * 1024


class ClosingServer:
    """A loopback server that counts connections and closes each at once (no answer)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def closing_server() -> Iterator[ClosingServer]:
    server = ClosingServer()
    try:
        yield server
    finally:
        server.close()


def test_scan_refuses_a_misspelt_region_before_any_call(
    closing_server: ClosingServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-esat-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", closing_server.url)
    code = cli.main(["scan", "--policies", "storage"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "us-esat-1" in lines[0] and "us-east-1" in lines[0] and "AWS_DEFAULT_REGION" in lines[0]
    assert closing_server.connections == 0  # nothing was sent anywhere


def test_scan_accepts_a_real_region(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_REGION", "il-central-1")  # a real region (CCF has no grid factor for it)
    with mock_aws():
        assert cli.main(["scan", "--policies", "storage", "--format", "json"]) == 0
    assert capsys.readouterr().err == ""


def _seed_storage() -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="vision-data")
    s3.put_bucket_tagging(Bucket="vision-data", Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
    s3.put_object(Bucket="vision-data", Key="imagenet/train/shard-000.tar", Body=b"\0" * 2 * MIB)


def _seed_training() -> None:
    from greenrail_cli.demo.training import DemoJob, create_job, put_gpu_utilization
    from greenrail_cli.emulator.moto_ext import sagemaker_training

    sagemaker_training.apply()
    job = DemoJob("bert-idle", "idle", "ml.g5.xlarge", 1, 1.0, 3.0)
    create_job(job)
    put_gpu_utilization(job.name, job.gpu_percent)


def _denied(*_: Any, **__: Any) -> Any:
    raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                       "ResponseMetadata": {"HTTPStatusCode": 403}}, "ListBuckets")


def _throttled(*_: Any, **__: Any) -> Any:
    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                       "ResponseMetadata": {"HTTPStatusCode": 400}}, "Search")


@pytest.mark.parametrize(
    ("failing", "adapter", "error", "code", "kept", "resource"),
    [
        ("storage", "greenrail.adapters.s3.bucket_names", _denied, "AccessDenied",
         "training", "training-job/bert-idle"),
        ("training", "greenrail.adapters.sagemaker.search_in_progress_training_jobs", _throttled,
         "ThrottlingException", "storage", "arn:aws:s3:::vision-data/imagenet/train/shard-000.tar"),
    ],
)
def test_one_failing_policy_keeps_the_others_decisions(
    failing: str, adapter: str, error: Any, code: str, kept: str, resource: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with mock_aws():
        _seed_storage()
        _seed_training()
        monkeypatch.setattr(adapter, error)
        exit_code = cli.main(["scan", "--format", "json"])
    captured = capsys.readouterr()
    assert exit_code == 1
    printed = [json.loads(line) for line in captured.out.splitlines()]
    assert [d["policy"] for d in printed] == [kept]
    assert printed[0]["resource"].endswith(resource) and printed[0]["action"] != "none"
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1, captured.err
    assert failing in errors[0] and code in errors[0]
    assert "Traceback" not in captured.err


def test_one_failing_policy_keeps_the_table_too(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        _seed_storage()
        monkeypatch.setattr("greenrail.adapters.sagemaker.search_in_progress_training_jobs", _throttled)
        assert cli.main(["scan"]) == 1
    captured = capsys.readouterr()
    assert "vision-data/imagenet/train/shard-000.tar" in captured.out
    assert "training" in captured.err and "ThrottlingException" in captured.err


def test_lambda_keeps_botocores_timeouts_and_the_cli_shortens_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from greenrail import aws

    for name in ("GREENRAIL_AWS_CONNECT_TIMEOUT", "GREENRAIL_AWS_READ_TIMEOUT", "GREENRAIL_AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    config = aws.client("s3").meta.config
    assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (60, 60, 5)

    seen: dict[str, Any] = {}

    def probe(args: Any) -> int:
        seen["config"] = aws.client("s3").meta.config
        return 0

    monkeypatch.setattr("greenrail_cli.commands.carbon.run", probe)
    carbon = ["carbon", "--instance-type", "ml.m5.large", "--hours", "1", "--region", "us-east-1"]
    assert cli.main(carbon) == 0
    config = seen["config"]
    assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (5, 6, 2)
    # the CLI's defaults do not outlive main (tests call it in-process)
    config = aws.client("s3").meta.config
    assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (60, 60, 5)

    monkeypatch.setenv("GREENRAIL_AWS_READ_TIMEOUT", "30")  # an explicit setting wins
    assert cli.main(carbon) == 0
    assert seen["config"].read_timeout == 30
