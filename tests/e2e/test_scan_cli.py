"""``greenrail scan`` against an emulated estate it has never seen, through AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def seed(endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="vision-data")
    s3.put_bucket_tagging(Bucket="vision-data", Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
    s3.create_bucket(Bucket="listed-bucket")
    s3.create_bucket(Bucket="not-governed")
    objects = [
        ("vision-data", "imagenet/train/shard-000.tar", 2 * MIB, None),
        ("vision-data", "imagenet/val/shard-000.tar", MIB, None),
        ("vision-data", "exports/report.parquet", 3 * MIB, None),
        ("vision-data", "imagenet/train/index.json", 1000, None),
        ("vision-data", "imagenet/test/keep.tar", MIB, "greenrail:exempt=true"),
        ("vision-data", "imagenet/test/done.tar", MIB, "greenrail:storage-class=ONEZONE_IA"),
        ("listed-bucket", "features/test/x.npy", MIB, None),
        ("not-governed", "train/y.bin", MIB, None),
    ]
    for bucket, key, size, tagging in objects:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": b"\0" * size}
        if tagging:
            kwargs["Tagging"] = tagging
        s3.put_object(**kwargs)
    s3.put_object(Bucket="vision-data", Key="imagenet/train/shard-001.tar", Body=b"\0" * MIB,
                  StorageClass="ONEZONE_IA")


def scan_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENRAIL_")}
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_DEFAULT_REGION": "us-east-1"})
    return env


def scan(endpoint: str, *args: str, policy: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "greenrail_cli.main", "scan", *args]
    if policy:
        command += ["--policy", str(policy)]
    return subprocess.run(command, capture_output=True, text=True, env=scan_env(endpoint), timeout=timeout,
                          check=False)


def test_scan_json_gives_one_correct_decision_per_line(endpoint: str, tmp_path: Path) -> None:
    seed(endpoint)
    policy = tmp_path / "policy.yaml"
    policy.write_text("storage:\n  buckets: [listed-bucket]\n")
    result = scan(endpoint, "--policies", "storage", "--format", "json", "--all", policy=policy)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_resource = {d["resource"]: d for d in lines}
    assert all(set(d) == {"policy", "resource", "account", "region", "action", "target", "mode", "applied",
                          "reason", "savings"} for d in lines)
    assert all(set(d["savings"]) == {"usd_per_month", "kgco2e_per_month"} for d in lines)
    expected = {
        "arn:aws:s3:::vision-data/imagenet/train/shard-000.tar": ("tag", "ONEZONE_IA"),
        "arn:aws:s3:::vision-data/imagenet/val/shard-000.tar": ("tag", "ONEZONE_IA"),
        "arn:aws:s3:::vision-data/exports/report.parquet": ("tag", "INTELLIGENT_TIERING"),
        "arn:aws:s3:::vision-data/imagenet/train/index.json": ("none", "ONEZONE_IA"),
        "arn:aws:s3:::vision-data/imagenet/test/keep.tar": ("none", "ONEZONE_IA"),
        "arn:aws:s3:::vision-data/imagenet/test/done.tar": ("none", "ONEZONE_IA"),
        "arn:aws:s3:::vision-data/imagenet/train/shard-001.tar": ("none", "ONEZONE_IA"),
        "arn:aws:s3:::listed-bucket/features/test/x.npy": ("tag", "ONEZONE_IA"),
    }
    assert {r: (d["action"], d["target"]["storage_class"]) for r, d in by_resource.items()} == expected
    for decision in lines:
        assert decision["policy"] == "storage" and decision["mode"] == "dry-run" and decision["applied"] is False
        assert decision["account"] == "123456789012" and decision["region"] == "us-east-1"
    assert by_resource["arn:aws:s3:::vision-data/imagenet/train/shard-000.tar"]["savings"]["usd_per_month"] > 0

    without_all = scan(endpoint, "--policies", "storage", "--format", "json", policy=policy)
    assert {json.loads(line)["action"] for line in without_all.stdout.splitlines()} == {"tag"}
    # dry-run changed nothing
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    assert s3.get_object_tagging(Bucket="vision-data", Key="imagenet/train/shard-000.tar")["TagSet"] == []


def test_scan_enforce_applies_and_table_totals(endpoint: str) -> None:
    seed(endpoint)
    result = scan(endpoint, "--policies", "storage", "--mode", "enforce")
    assert result.returncode == 0, result.stderr
    assert "need action" in result.stdout and "savings $" in result.stdout
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    tags = s3.get_object_tagging(Bucket="vision-data", Key="exports/report.parquet")["TagSet"]
    assert tags == [{"Key": "greenrail:storage-class", "Value": "INTELLIGENT_TIERING"}]
    assert "greenrail-onezone-ia" in [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket="vision-data")["Rules"]]
    again = scan(endpoint, "--policies", "storage", "--format", "json")
    assert again.stdout.strip() == ""  # everything complies now


def test_scan_errors_are_clear(endpoint: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage:\n  mode: maybe\n")
    result = scan(endpoint, policy=bad)
    assert result.returncode == 1 and "storage.mode" in result.stderr  # the same code as `greenrail validate`
    result = scan(endpoint, "--policies", "storage,nosuch")
    assert result.returncode == 2 and "unknown policies: nosuch" in result.stderr
    result = scan("http://127.0.0.1:9", "--policies", "storage")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "greenrail scan: cannot reach AWS at http://127.0.0.1:9: connection refused"], result.stderr


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A loopback server that accepts connections and never answers (for at most 60 s)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def test_an_endpoint_that_never_answers_fails_fast_with_one_line(silent_endpoint: str) -> None:
    started = time.monotonic()
    # two policies that call AWS: the first unreachable call ends the scan (the second would wait as long)
    result = scan(silent_endpoint, "--policies", "storage,training", timeout=40)
    elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"greenrail scan: cannot reach AWS at {silent_endpoint}: read timeout after 6 s"], result.stderr


def test_a_closed_pipe_ends_the_scan_quietly(endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="vision-data")
    s3.put_bucket_tagging(Bucket="vision-data", Tagging={"TagSet": [{"Key": "greenrail:storage", "Value": "managed"}]})
    for i in range(120):  # --all prints them all, a line of 1.5 KB each: well over a pipe's 64 KiB buffer
        s3.put_object(Bucket="vision-data", Key=f"imagenet/train/{'x' * 700}-{i:04d}.json", Body=b"{}")
    command = [sys.executable, "-m", "greenrail_cli.main", "scan", "--policies", "storage", "--format", "json", "--all"]
    with subprocess.Popen(command, env=scan_env(endpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        first = child.stdout.readline()  # `| head -1`
        child.stdout.close()
        stderr = child.stderr.read().decode()
        code = child.wait(timeout=60)
    assert json.loads(first)["policy"] == "storage"
    assert stderr == ""
    assert code == 141


def test_scan_training_finds_the_idle_job_among_running_ones(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from greenrail import aws
    from greenrail_cli.demo.training import DemoJob, create_job, put_gpu_utilization
    from greenrail_cli.emulator.moto_ext import sagemaker_training

    sagemaker_training.apply()  # the server runs in this process: InProgress jobs, StopTrainingJob
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    aws.reset_clients()
    jobs = [
        DemoJob("bert-idle", "idle", "ml.g5.xlarge", 1, 1.0, 3.0),
        DemoJob("bert-busy", "healthy", "ml.g5.xlarge", 1, 85.0, 3.0),
        DemoJob("bert-exempt", "exempt", "ml.g5.xlarge", 1, 0.5, 3.0, tags={"greenrail:exempt": "true"}),
    ]
    for job in jobs:
        create_job(job)
        put_gpu_utilization(job.name, job.gpu_percent)
    aws.reset_clients()

    result = scan(endpoint, "--policies", "training", "--format", "json", "--all")
    assert result.returncode == 0, result.stderr
    decisions = {d["resource"].rsplit("/", 1)[-1]: d for d in map(json.loads, result.stdout.splitlines())}
    assert {name: d["action"] for name, d in decisions.items()} == {
        "bert-idle": "stop", "bert-busy": "none", "bert-exempt": "none"}
    assert all(d["target"] == {} and d["policy"] == "training" and not d["applied"] for d in decisions.values())
    assert "IdleTrainingJob" in decisions["bert-idle"]["reason"]
    sagemaker = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")
    assert sagemaker.describe_training_job(TrainingJobName="bert-idle")["TrainingJobStatus"] == "InProgress"


def test_scan_retraining_gives_one_line_per_configured_model(endpoint: str, tmp_path: Path) -> None:
    """The scan contract for retraining, against a moto server the code has never seen."""
    from datetime import UTC, datetime, timedelta

    sagemaker = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")
    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/sagemaker"
    for name, drift, auc in (("churn", 0.42, 0.71), ("fraud", 0.38, 0.93), ("ranker", 0.05, 0.5)):
        sagemaker.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": "img"})
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
        sagemaker.create_endpoint(EndpointName=f"{name}-prod", EndpointConfigName=name)
        sagemaker.create_pipeline(PipelineName=f"{name}-retrain", RoleArn=role,
                                  PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}))
        for metric, namespace, value in (("drift_score", "Custom/Drift", drift), ("auc", "Custom/ModelQuality", auc)):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{
                "MetricName": metric, "Dimensions": [{"Name": "Endpoint", "Value": f"{name}-prod"}], "Value": value,
                "Timestamp": datetime.now(UTC) - timedelta(minutes=20)}])
    models = [{
        "endpoint": f"{name}-prod", "pipeline": f"{name}-retrain",
        "drift": {"namespace": "Custom/Drift", "metric_name": "drift_score", "dimensions": {"Endpoint": f"{name}-prod"},
                  "statistic": "Maximum", "threshold": 0.3},
        "kpi": {"namespace": "Custom/ModelQuality", "metric_name": "auc", "dimensions": {"Endpoint": f"{name}-prod"},
                "threshold": 0.8},
    } for name in ("churn", "fraud", "ranker")]
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"retraining": {"models": models,
                                                 "window": {"profiles": {"us-east-1": [300.0] * 12 + [100.0] + [300.0] * 11}}}}))
    result = scan(endpoint, "--policies", "retraining", "--format", "json", "--all", policy=policy)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_endpoint = {line["resource"].rsplit("/", 1)[1]: line for line in lines}
    assert set(by_endpoint) == {"churn-prod", "fraud-prod", "ranker-prod"}
    for line in lines:
        assert line["policy"] == "retraining" and line["resource"].startswith("arn:aws:sagemaker:us-east-1:")
        assert line["mode"] == "dry-run" and not line["applied"]
    churn = by_endpoint["churn-prod"]
    assert churn["action"] == "retrain" and churn["target"]["pipeline"] == "churn-retrain"
    # the profile's greenest hour (at once when the scan runs during it)
    assert datetime.fromisoformat(churn["target"]["scheduled_for"].replace("Z", "+00:00")).hour == 12
    assert by_endpoint["fraud-prod"]["action"] == "hold" and "healthy" in by_endpoint["fraud-prod"]["reason"]
    assert by_endpoint["ranker-prod"]["action"] == "none"


def test_scan_training_lists_tuning_processing_and_warm_pools_and_enforces_only_stop_and_release(
        endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan contract for the jobs around training: their ARNs as resources; in enforce mode the
    idle processing job is stopped and the warm pool released, the tuning job only advised."""
    from datetime import UTC, datetime, timedelta

    from greenrail import aws
    from greenrail_cli.demo import training as demo
    from greenrail_cli.emulator.moto_ext import sagemaker_training

    sagemaker_training.apply()  # the server runs in this process: tuning, processing, warm pools
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    aws.reset_clients()
    demo._create_tuning_job()
    demo._create_processing_job(datetime.now(UTC))
    sagemaker = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")
    sagemaker.create_training_job(
        TrainingJobName="pool-idle", AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn=demo.ROLE_ARN, OutputDataConfig={"S3OutputPath": "s3://out/"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30,
                        "KeepAlivePeriodInSeconds": 3600}, StoppingCondition={"MaxRuntimeInSeconds": 3600})
    end = datetime.now(UTC) - timedelta(minutes=45)
    sagemaker_training.set_training_job_status("pool-idle", "Completed", start_time=end - timedelta(hours=1),
                                              end_time=end)
    aws.reset_clients()

    enforced = scan(endpoint, "--policies", "training", "--format", "json", "--all", "--mode", "enforce")
    assert enforced.returncode == 0, enforced.stderr
    lines = {d["resource"]: d for d in map(json.loads, enforced.stdout.splitlines())}
    arn = "arn:aws:sagemaker:us-east-1:123456789012:"
    assert lines[f"{arn}hyper-parameter-tuning-job/{demo.TUNING_JOB}"]["action"] == "recommend-bayesian"
    assert lines[f"{arn}processing-job/{demo.PROCESSING_JOB}"]["action"] == "stop"
    assert lines[f"{arn}training-job/pool-idle"]["action"] == "release-warm-pool"
    # (the module's moto server also holds the earlier tests' jobs: judge this test's own)
    mine = [f"{arn}hyper-parameter-tuning-job/{demo.TUNING_JOB}", f"{arn}processing-job/{demo.PROCESSING_JOB}",
            f"{arn}training-job/pool-idle"]
    applied = {r.rsplit(":", 1)[-1]: lines[r]["action"] for r in mine if lines[r]["applied"]}
    assert applied == {f"processing-job/{demo.PROCESSING_JOB}": "stop", "training-job/pool-idle": "release-warm-pool"}
    assert sagemaker.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=demo.TUNING_JOB)["HyperParameterTuningJobStatus"] == "InProgress"
    assert sagemaker.describe_training_job(TrainingJobName="pool-idle")["WarmPoolStatus"]["Status"] == "Terminated"
