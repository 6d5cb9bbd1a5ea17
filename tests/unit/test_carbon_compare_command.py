"""``greenrail carbon --compare-regions [--residency]``: every region offering the type, lowest first."""

from __future__ import annotations

import argparse
import json

import pytest

from greenrail import carbon
from greenrail_cli.commands import carbon as command


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="greenrail")
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


BASE = ["carbon", "--instance-type", "ml.g5.12xlarge", "--count", "2", "--hours", "48", "--compare-regions"]


def test_table_repeats_the_inputs_and_lists_regions_lowest_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*BASE, "--residency", "eu", "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    assert "ml.g5.12xlarge x 2" in out and "48 each" in out and "EU" in out
    assert "0.5 (assumed: estimated)" in out  # utilization not given: flagged like the policy flags it
    regions = [line.split()[0] for line in out.splitlines() if line.startswith("eu-")]
    assert regions[0] == "eu-north-1" and "eu-west-2" not in regions  # London is not in the EU group
    assert set(regions) <= set(carbon.residency_groups()["EU"])
    assert "<- --region" in next(line for line in out.splitlines() if line.startswith("eu-west-1"))
    assert "note: CPU utilization not given: assumed 0.5" in out


def test_json_has_inputs_and_rows_and_given_utilization_is_not_assumed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*BASE, "--cpu-util", "0.3", "--gpu-util", "0.9", "--format", "json"]
    assert run(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["inputs"]["utilization_assumed"] is False and printed["inputs"]["cpu_util"] == 0.3
    kg = [row["kgco2e"] for row in printed["regions"]]
    assert kg == sorted(kg) and len(kg) > 10
    expected = carbon.compare_regions("ml.g5.12xlarge", 48, count=2, cpu_util=0.3, gpu_util=0.9)
    assert printed["regions"][0]["region"] == expected.regions[0].region
    by_region = {row["region"]: row for row in printed["regions"]}
    assert by_region["eu-north-1"]["estimated"] is False  # CCF covers g5 and Stockholm
    assert by_region["eu-south-2"]["estimated"] is True and by_region["eu-south-2"]["grid_basis"] == "average"


def test_a_family_with_limited_availability_lists_only_its_regions(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["carbon", "--instance-type", "ml.trn2.48xlarge", "--hours", "1", "--compare-regions",
                "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [row["region"] for row in printed["regions"]] == ["us-east-2"] and printed["inputs"]["offered"] == "listed"


@pytest.mark.parametrize("argv", [
    ["carbon", "--instance-type", "ml.g5.xlarge", "--hours", "1", "--residency", "EU", "--region", "eu-west-1"],
    ["carbon", "--instance-type", "ml.g5.xlarge", "--hours", "1"],
    ["carbon", "--instance-type", "ml.zz9.huge", "--hours", "1", "--compare-regions"],
])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == command.EXIT_USAGE
    assert "greenrail carbon: error:" in capsys.readouterr().err
