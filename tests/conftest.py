"""Shared test set-up: no test can reach real AWS, and each starts with fresh boto3 clients."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Fake credentials for the whole run: a test that forgets its mock fails instead of calling AWS.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "POWERTOOLS_METRICS_NAMESPACE": "Greenrail",
    "POWERTOOLS_SERVICE_NAME": "greenrail-test", "GREENRAIL_TEMPLATE": str(ROOT / "template.yaml"),
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ[_key] = _value
for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "GREENRAIL_POLICY_PARAMETER", "GREENRAIL_POLICY_FILE",
             "GREENRAIL_STATE_TABLE"):
    os.environ.pop(_key, None)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    from greenrail import aws

    aws.reset_clients()
    yield
    aws.reset_clients()


# A policy document section for tests that read one notification per decision (the default
# holds decisions for digests: greenrail.digest).
EACH = "notifications:\n  window_minutes: 0\n  dry_run: each\n"


def organization_accounts(*names: str) -> list[str]:
    """A new Organization managed by this (central) account, and one member account per name: their ids."""
    import boto3

    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    accounts = []
    for name in names:
        status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        accounts.append(str(organizations.describe_create_account_status(
            CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"]))
    return accounts


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py as a fresh module."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"fn_{name}_{id(path)}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "greenrail-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:greenrail-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> Any:
    return Context()
