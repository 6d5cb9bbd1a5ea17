"""The shape of what ships: a runtime-only layer, no import cycle, thin handlers, one registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from greenrail.registry import names, policies
from tests.conftest import ROOT

LAYER = ROOT / "layers" / "greenrail"
PACKAGE = LAYER / "greenrail"
DEV_ONLY = ("moto", "samtranslator", "greenrail_cli", "pytest", "cfnlint")
HANDLER_MAX_LINES = 60


def _content_uri() -> Path:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    return ROOT / template["Resources"]["GreenrailLayer"]["Properties"]["ContentUri"]


def layer_files() -> list[Path]:
    """What ``sam build`` puts in the layer: every file under its ContentUri (and requirements.txt's packages)."""
    root = _content_uri()
    assert root == LAYER
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and ".egg-info" not in str(p))


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (top level, in functions, in type-checking blocks)."""
    found: list[str] = []
    module = ".".join(path.relative_to(LAYER).with_suffix("").parts)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                parts = module.split(".")[: -node.level]
                base = ".".join([*parts, base] if base else parts)
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]
    return found


def test_the_layer_holds_runtime_code_only() -> None:
    files = layer_files()
    assert any(p.name == "registry.py" for p in files)
    offenders = {
        str(p.relative_to(LAYER)): sorted({m for m in imports(p) if m.split(".")[0] in DEV_ONLY})
        for p in files if p.suffix == ".py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    requirements = (LAYER / "requirements.txt").read_text().lower()
    assert not any(name in requirements for name in ("moto", "sam-translator", "samtranslator"))


def test_no_emulator_demo_or_cli_in_the_layer() -> None:
    shipped = {p.relative_to(PACKAGE).parts[0] for p in PACKAGE.rglob("*.py")}
    assert not shipped & {"emulator", "commands", "cli.py", "demo.py", "demo_training.py"}


def _module_graph() -> dict[str, set[str]]:
    modules = {".".join(p.relative_to(LAYER).with_suffix("").parts).removesuffix(".__init__"): p
               for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports(path):
            # "from greenrail.policies import storage" names a module; "from greenrail.decision import X" a symbol
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the cycle it closes."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, set())):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target):], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_cycle_in_the_package() -> None:
    """Function-level imports count too (the old training policy <-> training_watch cycle was one)."""
    assert find_cycles(_module_graph()) == []


def test_the_cycle_check_finds_cycles() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    graph = _module_graph()
    assert "greenrail.policies.training" in graph["greenrail.flows.watch"]  # imports are seen


@pytest.mark.parametrize("path", sorted((ROOT / "functions").glob("*/app.py")), ids=lambda p: p.parent.name)
def test_handlers_are_thin(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines < HANDLER_MAX_LINES, f"{path}: {lines} lines; policy logic belongs in the layer"


def test_the_registry_finds_every_policy_module() -> None:
    modules = sorted(p.stem for p in (PACKAGE / "policies").glob("*.py") if p.stem != "__init__")
    assert names() == modules
    for definition in policies():
        assert definition.triggers, f"{definition.name}: no trigger in template.yaml"
        assert definition.config().mode.value == "dry-run", f"{definition.name}: dry-run must be the default"
