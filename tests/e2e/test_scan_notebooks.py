"""The scan contract for notebooks: ``greenrail scan --policies notebooks --format json`` against an
emulated estate no other test uses (a moto server in this process, with the emulator's Studio).

The CLI runs in this process too (``greenrail_cli.main.main``, as ``python -m greenrail_cli.main``
runs it, with only the server's address and fake credentials in the environment): a child Python
would add seconds of start-up and prove nothing more; tests/e2e/test_scan_cli.py runs it as one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from tests.e2e.test_scan_cli import endpoint  # noqa: F401 - the moto server fixture

pytestmark = pytest.mark.e2e
ACTIONS = {"set-idle-shutdown", "delete-app", "set-default-instance", "stop", "recommend-auto-stop", "none"}
ENABLED = {"AppLifecycleManagement": {"IdleSettings": {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 60,
                                                       "MaxIdleTimeoutInMinutes": 120}}}


def seed() -> None:
    from greenrail.aws import client
    from greenrail_cli.demo.notebooks import create_app, create_domain, create_notebook, create_space
    from greenrail_cli.emulator.moto_ext import sagemaker_studio

    sagemaker = client("sagemaker")
    vision = create_domain("vision", {"JupyterLabAppSettings": ENABLED, "CodeEditorAppSettings": ENABLED})
    sagemaker.create_user_profile(DomainId=vision, UserProfileName="carol", UserSettings={"JupyterLabAppSettings": {
        "AppLifecycleManagement": {"IdleSettings": {"LifecycleManagement": "DISABLED"}}}})
    create_space(vision, "dan", "geo", "ml.geospatial.interactive")
    create_space(vision, "dan", "trn", "ml.trn1.2xlarge")
    never_used = str(sagemaker.create_app(DomainId=vision, SpaceName="geo", AppType="CodeEditor", AppName="default",
                                          ResourceSpec={"InstanceType": "ml.m5.large"})["AppArn"])
    sagemaker_studio.set_app_activity(never_used, last_user_activity=None, creation_time=timedelta(hours=4),
                                      status="InService")
    stuck = create_app(vision, "trn", "ml.trn1.2xlarge", idle_for=None, age=timedelta(hours=5))
    sagemaker_studio.set_app_activity(stuck, last_user_activity=None, status="Pending")
    legal = create_domain("legal", tags={"greenrail:exempt": "true"})
    create_space(legal, "eve", "gpu", "ml.g5.xlarge")
    create_app(legal, "gpu", "ml.g5.xlarge", idle_for=timedelta(days=2))
    create_notebook("etl-nb", "ml.t3.medium", tags={"greenrail:working-hours": "always"})
    create_notebook("gpu-nb", "ml.p3.2xlarge")
    sagemaker_studio.set_notebook_instance_status("gpu-nb", "Stopping")
    create_notebook("night-nb", "ml.m5.xlarge")
    create_notebook("exempt-nb", "ml.m5.xlarge", tags={"greenrail:exempt": "true"})


def test_scan_notebooks_gives_one_line_per_resource(endpoint: str, tmp_path: Path,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str],
                                                     request: pytest.FixtureRequest) -> None:
    import os

    from greenrail import aws
    from greenrail_cli.emulator.moto_ext import sagemaker_studio
    from greenrail_cli.main import main

    sagemaker_studio.apply()  # the server runs in this process
    for name in [name for name in os.environ if name.startswith("GREENRAIL_")]:
        monkeypatch.delenv(name)  # as a user's shell: no Lambda settings
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    request.addfinalizer(aws.reset_clients)  # the next tests' clients: not this server's
    seed()
    aws.reset_clients()
    start = datetime.now(UTC) + timedelta(hours=2)  # working hours that start in two hours: now is night
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps({"notebooks": {"working_hours": {
        "start": f"{start:%H}:00", "end": f"{start + timedelta(hours=2):%H}:00", "timezone": "UTC",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}}}))

    capsys.readouterr()
    code = main(["scan", "--policies", "notebooks", "--format", "json", "--all", "--policy", str(policy)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    for line in lines:
        assert line["policy"] == "notebooks" and line["action"] in ACTIONS
        assert line["resource"].startswith("arn:aws:sagemaker:us-east-1:123456789012:")
        assert line["mode"] == "dry-run" and not line["applied"]
    found = {line["resource"].split(":", 5)[5]: line for line in lines}
    acting = {resource: line["action"] for resource, line in found.items() if line["action"] != "none"}
    assert acting == {
        "user-profile/d-vision/carol": "set-idle-shutdown",
        "space/d-vision/trn": "set-default-instance",
        "app/d-vision/geo/codeeditor/default": "delete-app",
        "app/d-vision/trn/jupyterlab/default": "delete-app",
        "notebook-instance/etl-nb": "recommend-auto-stop",
        "notebook-instance/night-nb": "stop",
    }
    assert {"domain/d-vision", "domain/d-legal", "space/d-vision/geo", "space/d-legal/gpu",
            "app/d-legal/gpu/jupyterlab/default", "notebook-instance/gpu-nb", "notebook-instance/exempt-nb",
            "user-profile/d-vision/dan"} <= set(found)
    assert found["space/d-vision/trn"]["target"] == {"instance_type": "ml.t3.medium"}
    assert found["user-profile/d-vision/carol"]["target"] == {"idle_timeout_minutes": 120}
    assert "exempt" in found["app/d-legal/gpu/jupyterlab/default"]["reason"]
    # GPU (here Trainium) apps first, then the rest
    assert lines[0]["resource"].endswith("app/d-vision/trn/jupyterlab/default")
    assert found["notebook-instance/night-nb"]["savings"]["kgco2e_per_month"] > 0
    # dry-run: nothing changed
    sagemaker = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")
    assert sagemaker.describe_notebook_instance(NotebookInstanceName="night-nb")["NotebookInstanceStatus"] == "InService"
    assert sagemaker.describe_app(DomainId="d-vision", SpaceName="trn", AppType="JupyterLab",
                                  AppName="default")["Status"] == "Pending"
