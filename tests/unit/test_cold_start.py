"""Cold start: what a handler's import costs (bench/cold_start.py measures it; these guard the wins).

* With tracing off (outside Lambda, POWERTOOLS_TRACE_DISABLED, SAM local) no handler imports the
  X-Ray SDK: its recorder alone builds two botocore clients at import, a few hundred ms.
* Importing a handler reads no data file and fills no cache (the instance catalog, the prices,
  the coefficients, the settings): each is read on first use.
* Importing a handler builds no pydantic schema of Greenrail's models (``defer_build``: each is
  built on its first validation), and imports no policy module but its own policy's (the policy
  document, which needs them all, is read by the first invocation, not at import).
* Importing a handler does not import PyYAML, and reading a policy document that is plain JSON
  does not either (JSON is YAML: the ``json`` module reads it the same way); a YAML document does.
* With tracing on (in Lambda, ``Tracing: Active``) the handler is still traced: its subsegment
  reaches the X-Ray daemon.
* Clients share one botocore data loader: SageMaker's multi-megabyte model is parsed once per
  process, not once per client.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys

import pytest

from greenrail.registry import policies
from greenrail_cli.emulator.deploy import load_template
from tests.conftest import ROOT

LAYER = ROOT / "layers" / "greenrail"
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))

# Each handler loaded the way Lambda loads it (its directory on sys.path, ``app.py`` executed),
# one after the other in one fresh interpreter, greenrail's modules dropped between two (so each
# handler imports them afresh); prints the handlers after whose import aws_xray_sdk was loaded,
# greenrail's caches (functools.lru_cache) that the imports filled, greenrail's pydantic models
# whose schema was built, and the policy modules each handler imported.
IMPORT_ALL = """
import importlib.util, json, sys
from pydantic import BaseModel
loaded, cached, built, imported, yaml = [], set(), set(), {}, []
for path in sys.argv[2:]:
    folder = path.rsplit("/", 1)[0]
    name = folder.rsplit("/", 1)[1]
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("app_" + name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    sys.path.remove(folder)
    if "aws_xray_sdk" in sys.modules:
        loaded.append(name)
        break
    ours = {n: m for n, m in list(sys.modules.items()) if n == "greenrail" or n.startswith("greenrail.")}
    cached |= {f"{n}.{attr}" for n, m in ours.items() for attr, value in vars(m).items()
               if callable(getattr(value, "cache_info", None)) and value.cache_info().currsize}
    built |= {f"{n}.{attr}" for n, m in ours.items() for attr, value in vars(m).items()
              if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == n
              and value.__pydantic_complete__}
    imported[name] = sorted(n for n in ours if n.startswith("greenrail.policies."))
    if "yaml" in sys.modules:
        yaml.append(name)
    for n in [*ours, *(n for n in sys.modules if n == "yaml" or n.startswith(("yaml.", "_yaml")))]:
        del sys.modules[n]
print(json.dumps({"xray": loaded, "cached": sorted(cached), "built": sorted(built), "policies": imported,
                  "yaml": yaml}))
"""
# Built at import, and read by every handler's first invocation anyway: the environment.
BUILT_AT_IMPORT = ["greenrail.settings.Settings"]

# The policy document read from JSON, then from YAML: whether PyYAML was loaded after each.
READ_JSON_THEN_YAML = """
import json, sys
from greenrail.document import parse_policy
after = {}
for kind, text in (("json", sys.argv[1]), ("yaml", sys.argv[2])):
    document = parse_policy(text)
    after[kind] = {"yaml": "yaml" in sys.modules, "mode": document.training.mode.value,
                   "window": document.notifications.window_minutes}
print(json.dumps(after))
"""

# One handler imported and invoked with tracing on, as in Lambda with Tracing: Active.
INVOKE_TRACED = """
import importlib.util, json, sys, types
sys.path.insert(0, sys.argv[2])
spec = importlib.util.spec_from_file_location("app", sys.argv[2] + "/app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
context = types.SimpleNamespace(function_name="greenrail-training-evaluate", memory_limit_in_mb=256,
                                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
                                aws_request_id="req-1")
output = module.handler({}, context)
from aws_xray_sdk.core import patcher
print(json.dumps({"xray": "aws_xray_sdk.core" in sys.modules, "output": output,
                  "patched": sorted(patcher._PATCHED_MODULES)}))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "POWERTOOLS_", "GREENRAIL_", "LAMBDA_", "_X_AMZN"))}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                "AWS_LAMBDA_FUNCTION_NAME": "greenrail-test", "GREENRAIL_BUS_NAME": "greenrail-decisions",
                "GREENRAIL_STATE_TABLE": "greenrail-state", "GREENRAIL_POLICY_PARAMETER": "/greenrail/policy",
                "GREENRAIL_ACCOUNT_ID": "123456789012", "POWERTOOLS_METRICS_NAMESPACE": "Greenrail",
                "PYTHONPATH": str(LAYER), "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return env


@pytest.fixture(scope="module")
def imports() -> dict:  # type: ignore[type-arg]
    """What importing every handler (tracing off) loaded, built and cached: IMPORT_ALL's answer."""
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(LAYER), *map(str, HANDLERS)], env=_env(),
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_handler_imports_load_no_xray_sdk_with_tracing_off_and_no_data(imports: dict) -> None:  # type: ignore[type-arg]
    assert len(HANDLERS) >= 10
    assert {"xray": imports["xray"], "cached": imports["cached"]} == {"xray": [], "cached": []}


def test_handler_imports_build_no_model_schema(imports: dict) -> None:  # type: ignore[type-arg]
    # Strict (policy sections), _Loose (events), Decision, the snapshots...: built on first validation
    assert imports["built"] == BUILT_AT_IMPORT


def test_a_handler_imports_only_its_own_policy_modules(imports: dict) -> None:  # type: ignore[type-arg]
    module_of = {}  # policy name -> its module (greenrail.policies.<module> defines DEFINITION)
    for definition in policies():
        module = importlib.import_module(f"greenrail.policies.{definition.name}")
        assert module.DEFINITION is definition
        module_of[definition.name] = module.__name__
    folder_of = {logical: str(resource["Properties"]["CodeUri"]).strip("/").rsplit("/", 1)[-1]
                 for logical, resource in load_template(ROOT / "template.yaml")["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"}
    serves: dict[str, set[str]] = {handler.parent.name: set() for handler in HANDLERS}
    for definition in policies():
        for trigger in definition.triggers:
            if trigger.resource in folder_of:
                serves[folder_of[trigger.resource]].add(module_of[definition.name])
    assert any(serves.values()) and not all(serves.values())  # policies' handlers, and the core's
    assert set(imports["policies"]) == set(serves)
    imported_other = {name: sorted(set(found) - serves[name]) for name, found in imports["policies"].items()
                      if set(found) - serves[name]}
    assert imported_other == {}


def test_handler_imports_do_not_import_yaml(imports: dict) -> None:  # type: ignore[type-arg]
    assert imports["yaml"] == []


def test_a_json_policy_document_is_read_without_yaml() -> None:
    document = {"version": 1, "training": {"mode": "enforce"}, "notifications": {"window_minutes": 0}}
    text = "version: 1\ntraining:\n  mode: enforce\nnotifications:\n  window_minutes: 0\n"
    done = subprocess.run([sys.executable, "-c", READ_JSON_THEN_YAML, json.dumps(document, indent=2), text],
                          env=_env(), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "json": {"yaml": False, "mode": "enforce", "window": 0},
        "yaml": {"yaml": True, "mode": "enforce", "window": 0},
    }


def test_with_tracing_on_the_handler_is_traced() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # stands in for the X-Ray daemon
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(5)
    port = daemon.getsockname()[1]
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    env = _env(LAMBDA_TASK_ROOT=str(ROOT / "functions" / "training_evaluate"), _X_AMZN_TRACE_ID=trace,
               AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{port}", POWERTOOLS_SERVICE_NAME="greenrail-training-evaluate")
    try:
        done = subprocess.run([sys.executable, "-c", INVOKE_TRACED, str(LAYER),
                               str(ROOT / "functions" / "training_evaluate")],
                              env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout.splitlines()[-1])
        assert result["xray"] is True
        assert {"botocore", "httplib"} <= set(result["patched"])  # AWS calls and HTTP requests are traced
        assert result["output"]["status"] == "InvalidInput"
        segments = []
        while True:
            try:
                datagram = daemon.recv(65536).decode()
            except TimeoutError:
                break
            segments.append(json.loads(datagram.split("\n", 1)[1]))  # a header line, then the document
            if any(s.get("name") == "## handler" for s in segments):
                break
    finally:
        daemon.close()
    handler = next(s for s in segments if s.get("name") == "## handler")
    assert handler["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert handler["annotations"]["ColdStart"] is True
    assert handler["annotations"]["Service"] == "greenrail-training-evaluate"


def test_clients_parse_each_botocore_model_once() -> None:
    from greenrail import aws

    aws.reset_clients()
    try:
        east = aws.client("sagemaker", "us-east-1")
        west = aws.client("sagemaker", "eu-west-1")
        assert east is not west
        # the one parsed model, not two copies of it
        assert east.meta.service_model._service_description is west.meta.service_model._service_description
    finally:
        aws.reset_clients()
