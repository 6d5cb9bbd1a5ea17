"""``greenrail carbon``: the subcommand's parser, JSON contract and errors."""

from __future__ import annotations

import argparse
import json

import pytest

from greenrail import carbon
from greenrail_cli.commands import carbon as command

JSON_KEYS = {
    "kwh",
    "kgco2e",
    "operational_kgco2e",
    "embodied_kgco2e",
    "pue",
    "grid_kgco2e_per_kwh",
    "method",
    "estimated",
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="greenrail")
    command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse(argv)
    return int(args.func(args))


def test_json_prints_exactly_the_record(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "carbon",
        "--instance-type",
        "ml.p3.2xlarge",
        "--hours",
        "10",
        "--region",
        "us-east-1",
        "--format",
        "json",
    ]
    assert run(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == JSON_KEYS
    assert printed == carbon.estimate("ml.p3.2xlarge", 10, "us-east-1").as_dict()


def test_count_and_utilization_are_passed_through(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "carbon",
        "--instance-type",
        "ml.g5.2xlarge",
        "--count",
        "2",
        "--hours",
        "1.5",
        "--region",
        "eu-west-1",
    ]
    argv += ["--cpu-util", "0.25", "--gpu-util", "0.8", "--format", "json"]
    assert run(argv) == 0
    expected = carbon.estimate("ml.g5.2xlarge", 1.5, "eu-west-1", count=2, cpu_util=0.25, gpu_util=0.8)
    assert json.loads(capsys.readouterr().out) == expected.as_dict()


def test_table_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["carbon", "--instance-type", "ml.m5.large", "--hours", "1", "--region", "eu-north-1"]) == 0
    out = capsys.readouterr().out
    assert "kWh" in out and "kgCO2e" in out and "cloud-carbon-footprint/aws@" in out


def test_region_without_grid_factor_note_goes_to_stderr_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "carbon",
        "--instance-type",
        "ml.m5.large",
        "--hours",
        "1",
        "--region",
        "il-central-1",  # a real region CCF publishes no grid factor for: the documented fallback
        "--format",
        "json",
    ]
    assert run(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["estimated"] is True
    assert "il-central-1" in captured.err


@pytest.mark.parametrize(
    ("region", "nearest"),
    [("us-esat-1", "us-east-1"), ("eu-wset-1", "eu-west-1"), ("xx-nowhere-1", None), ("cn-nrth-1", "cn-north-1")],
)
def test_unknown_region_is_a_usage_error_naming_the_nearest(
    region: str, nearest: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["carbon", "--instance-type", "ml.m5.large", "--hours", "1", "--region", region, "--format", "json"]
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and region in lines[0] and "unknown region" in lines[0]
    if nearest:
        assert f"did you mean {nearest}?" in lines[0]


def test_gov_and_china_regions_are_known(capsys: pytest.CaptureFixture[str]) -> None:
    for region in ("us-gov-west-1", "cn-northwest-1"):
        assert run(["carbon", "--instance-type", "ml.m5.large", "--hours", "1", "--region", region]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--instance-type", "ml.nope.large", "--hours", "1", "--region", "us-east-1"],
            "unknown instance type",
        ),
        (["--instance-type", "ml.m5.large", "--hours", "-2", "--region", "us-east-1"], "hours"),
        (
            ["--instance-type", "ml.m5.large", "--hours", "1", "--region", "us-east-1", "--cpu-util", "50"],
            "cpu_util",
        ),
        (
            ["--instance-type", "ml.m5.large", "--hours", "1", "--region", "us-east-1", "--count", "0"],
            "count",
        ),
    ],
)
def test_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["carbon", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_missing_required_argument_exits_2() -> None:
    with pytest.raises(SystemExit) as caught:
        parse(["carbon", "--instance-type", "ml.m5.large", "--region", "us-east-1"])
    assert caught.value.code == 2


def test_through_the_greenrail_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from greenrail_cli import main as cli

    argv = ["carbon", "--instance-type", "ml.inf2.xlarge", "--hours", "2", "--region", "ap-south-1"]
    assert cli.main([*argv, "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == JSON_KEYS and printed["estimated"] is True  # Inferentia2 has no CCF coefficient
    assert (
        cli.main(["carbon", "--instance-type", "ml.nope.large", "--hours", "1", "--region", "us-east-1"]) == 2
    )
