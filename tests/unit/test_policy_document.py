"""The policy document: defaults, strictness, error paths, and the shipped example."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from greenrail.decision import Mode
from greenrail.document import PolicyDocument, PolicyError, document_model, parse_policy
from greenrail_cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_empty_document_is_all_defaults_and_dry_run() -> None:
    document = parse_policy("")
    assert document == PolicyDocument()
    assert {document.storage.mode, document.training.mode, document.carbon.mode} == {Mode.DRY_RUN}
    assert document.storage.min_object_size_bytes == 128 * 1024


def test_unknown_keys_are_errors_with_their_path() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("storage:\n  mode: enforce\n  tresholds: 3\ntraining:\n  idle:\n    windw_minutes: 5\n")
    paths = [path for path, _ in caught.value.errors]
    assert "storage.tresholds" in paths
    assert "training.idle.windw_minutes" in paths


def test_every_error_is_reported_not_only_the_first() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("storage:\n  mode: sometimes\n  transition_days: {ONEZONE_IA: 3}\n"
                     "training:\n  exemptions:\n    name_patterns: ['(']\n")
    paths = {path for path, _ in caught.value.errors}
    assert {"storage.mode", "storage.transition_days", "training.exemptions.name_patterns"} <= paths


@pytest.mark.parametrize("text", ["- a\n- b\n", "storage: [\n", "version: 2\n"])
def test_documents_that_are_not_a_policy(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text)


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    found = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        found.add(path)
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _fields(annotation, path + ".")
    return found


def _keys(data: Any, prefix: str = "") -> set[str]:
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}{key}"
            found.add(path)
            found |= _keys(value, path + ".")
    return found


def _without_comments(text: str) -> str:
    lines = (re.sub(r"\s+#.*$", "", line) for line in text.splitlines() if not line.lstrip().startswith("#"))
    return "\n".join(line for line in lines if line.strip()) + "\n"


def test_example_is_valid_and_names_every_field() -> None:
    """The example is the reference of every field with its comments; without them it is a
    document that can be deployed as it is (within the 8 KB an SSM parameter holds)."""
    text = (ROOT / "policy.example.yaml").read_text()
    parse_policy(_without_comments(text))
    model_fields = _fields(document_model())
    example_keys = _keys(yaml.safe_load(text))
    missing = {f for f in model_fields if f not in example_keys and not any(
        f.startswith(k + ".") and k.endswith(("transition_days", "price_overrides_usd_per_hour")) for k in example_keys)}
    assert not missing, f"policy.example.yaml does not show: {sorted(missing)}"


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("storage:\n  mode: enforce\n")
    assert main(["validate", str(good)]) == 0
    assert "storage=enforce" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage:\n  mode: loud\n  colour: green\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "storage.mode" in err and "storage.colour" in err and "2 error(s)" in err
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 1


def test_deployed_policy_is_read_from_ssm_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from greenrail import aws
    from greenrail.document import load_policy

    with mock_aws():
        aws.reset_clients()
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name="/greenrail/policy", Value="storage:\n  mode: enforce\n", Type="String")
        monkeypatch.setenv("GREENRAIL_POLICY_PARAMETER", "/greenrail/policy")
        reads: list[str] = []
        aws.client("ssm").meta.events.register("before-call.ssm.GetParameter", lambda **_: reads.append("read"))
        assert load_policy().storage.mode == Mode.ENFORCE
        ssm.put_parameter(Name="/greenrail/policy", Value="storage:\n  mode: 'off'\n", Type="String", Overwrite=True)
        assert load_policy().storage.mode == Mode.ENFORCE  # cached (default 300 s)
        assert reads == ["read"]
        monkeypatch.setenv("GREENRAIL_POLICY_CACHE_SECONDS", "0")
        assert load_policy().storage.mode == Mode.OFF
        ssm.put_parameter(Name="/greenrail/policy", Value="storage:\n  mode: loud\n", Type="String", Overwrite=True)
        with pytest.raises(PolicyError, match="ssm:/greenrail/policy"):
            load_policy()


@pytest.mark.parametrize("days", ["{GLACIER: 30}", "{INTELLIGENT_TIERING: -1}"])
def test_transition_days_only_for_known_classes_and_not_negative(days: str) -> None:
    with pytest.raises(PolicyError, match="storage.transition_days"):
        parse_policy(f"storage:\n  transition_days: {days}\n")


# --- hardening: every bad document is `path: message` lines and exit 1, never a traceback ----------

BAD_DOCUMENTS: dict[str, tuple[bytes, str]] = {
    "huge-integer": (b"storage:\n  min_object_size_bytes: " + b"9" * 5000 + b"\n", "line 2, column 26"),
    "invalid-utf8": (b"storage:\n  mode: \xff\xfeenforce\n", "not valid UTF-8"),
    "deep-nesting": (b"storage: " + b"[" * 8000 + b"\n", "nested more than"),
    "oversize-20000-brackets": (b"storage: " + b"[" * 20000 + b"\n", "SSM Parameter Store"),
    "oversize-comment": (b"version: 1\n# " + b"x" * 9000 + b"\n", "8,192 bytes"),
    "regex-3000-groups": (
        b"training:\n  exemptions:\n    name_patterns: ['" + b"(" * 3000 + b")" * 3000 + b"']\n",
        "longer than 1,000 characters",
    ),
    "regex-recursion": (
        b"training:\n  exemptions:\n    name_patterns: ['" + b"(" * 495 + b")" * 495 + b"']\n",
        "training.exemptions.name_patterns",
    ),
    "negative-price": (
        b"training:\n  price_overrides_usd_per_hour: {ml.p3.2xlarge: -1}\n",
        "training.price_overrides_usd_per_hour.ml.p3.2xlarge: Input should be greater than 0",
    ),
    "duplicate-top-level-key": (
        b"storage:\n  mode: enforce\ntraining: {}\nstorage:\n  mode: 'off'\n",
        "duplicate key 'storage' on line 4 (first on line 1)",
    ),
    "duplicate-nested-key": (
        b"training:\n  idle:\n    window_minutes: 10\n    window_minutes: 20\n",
        "duplicate key 'window_minutes' on line 4 (first on line 3)",
    ),
    "empty-file": (b"", "empty document"),
    "comments-only": (b"# nothing here\n", "empty document"),
    "unknown-key-hint": (b"storage:\n  min_object_size: 1\n", "storage.min_object_size: unknown key (did you mean min_object_size_bytes?)"),
    "yaml-syntax": (b"storage:\n  mode: enforce\n bad: [\n", "line 3"),
    "not-a-mapping": (b"- storage\n", "must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_bad_documents_fail_validate_and_scan_alike(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    content, expected = BAD_DOCUMENTS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(content)
    assert main(["validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert lines and all(line.startswith(f"{path}: ") for line in lines), err
    assert any(expected in line for line in lines), err
    assert lines[-1] == f"{path}: {len(lines) - 1} error(s)"
    # scan fails on the same document, with the same lines, before any AWS call (nothing listens there)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GREENRAIL_AWS_MAX_ATTEMPTS", "1")
    assert main(["scan", "--policy", str(path)]) == 1
    scan_out, scan_err = capsys.readouterr()
    assert scan_err.splitlines() == lines
    assert scan_out == ""


def test_deployed_default_and_no_document_stay_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "default.yaml"
    path.write_text("version: 1\n")
    assert main(["validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out
    assert parse_policy("version: 1\n") == PolicyDocument() == parse_policy("")


def test_merge_keys_are_not_duplicates() -> None:
    document = parse_policy("training:\n  idle:\n    <<: {window_minutes: 10, warmup_minutes: 5}\n    window_minutes: 20\n")
    assert document.training.idle.window_minutes == 20
    assert document.training.idle.warmup_minutes == 5


def test_a_file_at_the_size_limit_is_read() -> None:
    from greenrail.document import MAX_DOCUMENT_BYTES

    text = "version: 1\n#" + "x" * (MAX_DOCUMENT_BYTES - 13) + "\n"
    assert len(text.encode()) == MAX_DOCUMENT_BYTES
    assert parse_policy(text) == PolicyDocument()
    with pytest.raises(PolicyError, match="8,192 bytes"):
        parse_policy(text + "\n")


def test_unexpected_errors_become_policy_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from greenrail import document as module

    class Broken:
        @staticmethod
        def model_validate(data: Any) -> Any:
            raise ZeroDivisionError("boom")

    monkeypatch.setattr(module, "document_model", lambda: Broken)
    with pytest.raises(PolicyError, match=r"x\.yaml: \(document\): cannot be read: ZeroDivisionError: boom"):
        parse_policy("version: 1\n", "x.yaml")


# JSON is YAML: a document that is plain JSON is read by the json module (PyYAML is not imported,
# a cold-start cost), and must give exactly what the YAML reader gives, or be left to it.
JSON_LIKE = [
    '{"version": 1, "training": {"mode": "enforce", "idle": {"window_minutes": 30}}}',
    '{\n"storage": {"exemptions": {"name_patterns": ["^tmp-", "a: b # c"]}},\n"carbon": {}\n}\n',
    '  {"notifications": {"window_minutes": 0, "immediate_severities": ["HIGH", "LOW"]}}  ',
    '{"a": 1.5, "b": -0, "c": -2.25, "d": [true, false, null], "e": "yes", "f": "1e5", "g": "~"}',
    '{}', '{"x": {}}', '{"x": []}', '{"k": "\'quoted\' & *ref !tag %x @y `z` |>"}',
    '{"a": 1e5}', '{"a": 1.0e+5}', '{"a": 1E5}',  # YAML 1.1: 1e5 is a string, 1.0e+5 a float
    '{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',  # duplicates, constants
    '{"a": "\\u00e9\\/\\n"}', '{"a": "\\ud83d\\ude00"}', '{"a": "é"}', '{"\ufeffa": 1}',  # escapes, non-ASCII
    '{\t"a": 1}', '{"a":\t1}', '{"a"\n: 1}', '{"a"' + " " * 40 + ': 1}',  # tabs, keys away from their colon
    '{"' + "k" * 300 + '": 1}', '{"' + "k" * 1100 + '": 1}',  # long simple keys
    '{"a": ' + "[" * 40 + "]" * 40 + "}", '{"a": ' + '{"b": ' * 20 + "1" + "}" * 20 + "}",  # deep nesting
    '{"a": 1,}', '{"a": 01}', '{"a": 1} {"b": 2}', '{"a": 1}\n---\n', '["a"]', '"a"', "1", "null", "",
    '{"a": ' + "9" * 5000 + "}", '{"a": 1' + "0" * 400 + '.0}',  # over the digit limit, over the float range
]


def _yaml_or_error(text: str) -> Any:
    from greenrail import policy_yaml

    try:
        return policy_yaml.load(text)
    except policy_yaml.YAMLError as exc:
        return ("error", policy_yaml.message(exc, text))


@pytest.mark.parametrize("text", JSON_LIKE, ids=range(len(JSON_LIKE)))
def test_json_is_read_as_the_yaml_reader_reads_it_or_left_to_it(text: str) -> None:
    from greenrail.document import _plain_json

    plain = _plain_json(text)
    if plain is not None:
        expected = _yaml_or_error(text)
        assert plain == expected and type(plain) is type(expected)
        assert json.dumps(plain, sort_keys=True) == json.dumps(expected, sort_keys=True)  # 1 vs 1.0 vs True


def test_plain_json_documents_are_read_by_json_the_others_by_yaml() -> None:
    from greenrail.document import _plain_json

    assert _plain_json(JSON_LIKE[0]) == {"version": 1, "training": {"mode": "enforce", "idle": {"window_minutes": 30}}}
    assert _plain_json('{"a": 1e5}') is None and _yaml_or_error('{"a": 1e5}') == {"a": "1e5"}
    assert _plain_json('{"a": 1, "a": 2}') is None and _yaml_or_error('{"a": 1, "a": 2}')[0] == "error"
    assert _plain_json("version: 1\n") is None
    # the same document, the same answer, errors included
    assert parse_policy(json.dumps({"storage": {"mode": "enforce"}})) == parse_policy("storage:\n  mode: enforce\n")
    with pytest.raises(PolicyError) as from_json:
        parse_policy('{"storage": {"mode": "enforce", "tresholds": 3}}')
    with pytest.raises(PolicyError) as from_yaml:
        parse_policy("storage: {mode: enforce, tresholds: 3}")
    assert from_json.value.errors == from_yaml.value.errors
    with pytest.raises(PolicyError, match="duplicate key 'mode'"):
        parse_policy('{"storage": {"mode": "enforce", "mode": "dry-run"}}')


def test_validate_json_prints_the_same_document_as_json_read_without_yaml(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``greenrail validate FILE --json``: what to deploy; read back, it is the same document, and
    reading it imports no PyYAML (the functions' cold start)."""
    import subprocess
    import sys

    from greenrail.document import parse_policy
    from greenrail_cli.main import main

    source = tmp_path / "policy.yaml"
    source.write_text("version: 1  # a comment\nstorage:\n  mode: enforce\n  buckets: [ml-data, ml-images]\n"
                      "training:\n  idle:\n    window_minutes: 45\n  exemptions:\n    name_patterns: ['^tmp-']\n")
    assert main(["validate", str(source), "--json"]) == 0
    printed = capsys.readouterr().out
    assert parse_policy(printed) == parse_policy(source.read_text())
    assert json.loads(printed)["version"] == 1
    probe = ("import sys; from greenrail.document import parse_policy; parse_policy(sys.stdin.read()); "
             "print('yaml' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], input=printed, capture_output=True, text=True, check=True,
                            cwd=ROOT / "layers" / "greenrail")
    assert result.stdout.strip() == "False"


def test_a_function_reads_its_own_section_alone_and_errors_as_the_whole_document(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_section validates only its policy's section (and the document's shape): another
    policy's mistake does not stop it; its own mistake, a bad version or an unknown top-level key
    is the whole document's PolicyError, the same lines."""
    from greenrail.document import PolicyError, load_section, parse_policy
    from greenrail.policies.storage import StoragePolicy
    from greenrail.policies.training import TrainingPolicy

    path = tmp_path / "policy.yaml"
    monkeypatch.delenv("GREENRAIL_POLICY_PARAMETER", raising=False)
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(path))
    path.write_text("version: 1\nstorage:\n  mode: enforce\ntraining:\n  idle:\n    window_minutes: soon\n")
    assert load_section("storage", StoragePolicy).mode.value == "enforce"
    for text, name, model in [
        (path.read_text(), "training", TrainingPolicy),
        ("version: 1\nstorage:\n  mode: enforce\n  modes: dry-run\n", "storage", StoragePolicy),
        ("version: 2\nstorage:\n  mode: enforce\n", "storage", StoragePolicy),
        ("version: 1\nstorge:\n  mode: enforce\n", "storage", StoragePolicy),
        ('{"version": 1, "storage": null}', "storage", StoragePolicy),
        ("version: 1\nstorage: [enforce]\n", "storage", StoragePolicy),
    ]:
        path.write_text(text)
        with pytest.raises(PolicyError) as whole:
            parse_policy(text, str(path), require_content=True)
        with pytest.raises(PolicyError) as alone:
            load_section(name, model)
        assert alone.value.lines() == whole.value.lines(), text
    path.write_text('{"version": 1}')
    assert load_section("storage", StoragePolicy) == StoragePolicy()


def test_reading_a_section_imports_no_other_policy_nor_the_registry(tmp_path: Path) -> None:
    """A function's first invocation reads its section: it builds and imports only its own policy
    (the whole document's model would import every policy module)."""
    import subprocess
    import sys

    path = tmp_path / "policy.json"
    path.write_text('{"version": 1, "storage": {"mode": "enforce"}, "training": {"mode": "enforce"}}')
    probe = ("import sys; from greenrail.document import load_section; from greenrail.policies.storage import "
             "StoragePolicy; print(load_section('storage', StoragePolicy).mode.value); "
             "print(sorted(m for m in sys.modules if m.startswith('greenrail.policies.') or m in "
             "('greenrail.registry', 'yaml')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=ROOT / "layers" / "greenrail",
                            env={"PATH": "/usr/bin:/bin", "GREENRAIL_POLICY_FILE": str(path), "AWS_REGION": "us-east-1"})
    assert result.stdout.split("\n")[:2] == ["enforce", "['greenrail.policies.storage']"], result.stdout + result.stderr


def test_a_section_is_refused_where_the_whole_document_is_with_its_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading one section never accepts a file the whole document refuses (8 KB counted with the
    file's byte-order mark) nor raises anything but the whole document's PolicyError (a YAML tag
    that cannot be constructed: PyYAML raises KeyError or AttributeError there)."""
    from greenrail.document import MAX_DOCUMENT_BYTES, load_policy_file, load_section
    from greenrail.policies.storage import StoragePolicy

    path = tmp_path / "policy.yaml"
    monkeypatch.delenv("GREENRAIL_POLICY_PARAMETER", raising=False)
    monkeypatch.setenv("GREENRAIL_POLICY_FILE", str(path))
    head = b"version: 1\nstorage:\n  mode: enforce\n#"
    over_with_its_bom = b"\xef\xbb\xbf" + head + b"x" * (MAX_DOCUMENT_BYTES - len(head) - 1) + b"\n"
    for raw in (over_with_its_bom, b"version: 1\nstorage: {mode: !!bool maybe}\n",
                b"version: 1\nstorage: {mode: enforce}\ntraining: {mode: !!timestamp soon}\n"):
        path.write_bytes(raw)
        with pytest.raises(PolicyError) as whole:
            load_policy_file(path)
        with pytest.raises(PolicyError) as alone:
            load_section("storage", StoragePolicy)
        assert alone.value.lines() == whole.value.lines(), raw[:60]


def test_the_sections_a_function_may_read_are_the_document_s_top_level_keys() -> None:
    """load_section finds the top-level keys from the policy modules' names without importing
    them: each registered policy's name must be its module's (and every module a policy)."""
    from greenrail.document import _section_names

    assert _section_names() == {"version", "notifications", *document_model().model_fields}
