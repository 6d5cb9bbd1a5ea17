"""statelint, less its one known gap: ``ItemReader.ReaderConfig.InputType`` (and the CSV fields).

statelint 3.1.0 (the newest) does not know the Distributed Map ``ReaderConfig`` fields that
select what an ``ItemReader`` reads (``InputType``: CSV, JSON, JSONL, PARQUET or MANIFEST, and
``CSVHeaderLocation``/``CSVHeaders``/``CSVDelimiter``; Step Functions Developer Guide,
"ItemReader (Map)") and refuses them. This checks those fields here, takes them out, and runs
statelint on the rest: every other problem statelint finds still fails.

Usage: python scripts/statelint.py FILE.asl.json [...]   (exit status 1 on any problem)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

INPUT_TYPES = {"CSV", "JSON", "JSONL", "PARQUET", "MANIFEST"}
CSV_FIELDS = ("CSVHeaderLocation", "CSVHeaders", "CSVDelimiter")


def strip_reader_configs(states: dict[str, Any], where: str, problems: list[str]) -> None:
    for name, state in states.items():
        config = ((state.get("ItemReader") or {}).get("ReaderConfig")) if isinstance(state, dict) else None
        if isinstance(config, dict):
            value = config.pop("InputType", None)
            if value is not None and value not in INPUT_TYPES:
                problems.append(f"{where}.{name}.ItemReader.ReaderConfig.InputType: {value!r} is not one of {sorted(INPUT_TYPES)}")
            for field in CSV_FIELDS:
                if field in config and value != "CSV":
                    problems.append(f"{where}.{name}.ItemReader.ReaderConfig.{field} needs InputType CSV")
                config.pop(field, None)
        if isinstance(state, dict):
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            strip_reader_configs(processor.get("States", {}), f"{where}.{name}", problems)
            for index, branch in enumerate(state.get("Branches", [])):
                strip_reader_configs(branch.get("States", {}), f"{where}.{name}.Branches[{index}]", problems)


def lint(path: Path) -> list[str]:
    document = json.loads(path.read_text())
    problems: list[str] = []
    strip_reader_configs(document.get("States", {}), "State Machine.States", problems)
    with tempfile.NamedTemporaryFile("w", suffix=".asl.json", delete=False) as copy:
        json.dump(document, copy)
    statelint = Path(sys.executable).with_name("statelint")
    done = subprocess.run([str(statelint), copy.name], capture_output=True, text=True, check=False)
    Path(copy.name).unlink()
    if done.returncode != 0 or done.stdout.strip():
        problems.append((done.stdout + done.stderr).strip())
    return problems


def main(paths: list[str]) -> int:
    failed = False
    for name in paths:
        for problem in lint(Path(name)):
            failed = True
            print(f"{name}: {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
