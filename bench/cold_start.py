"""Cold-start imports: how long each Lambda handler module takes to import, against ``import boto3``.

Each measurement runs in a fresh interpreter (nothing cached in ``sys.modules``; the bytecode
cache on disk is warm, as it is in a Lambda layer). What is timed is the import alone, not the
interpreter's own start-up. The handler is loaded the way Lambda loads it: its directory on
``sys.path``, the module executed from ``app.py``, with the environment the template gives it
(plus fake credentials and an unreachable endpoint, so an import-time AWS call cannot succeed).

The baseline, measured in the same run and the same way, is ``import boto3``: interleaved with
each handler's runs (boto3, handler, boto3, handler, ...), so that each handler's ratio is to
``import boto3`` timed under the same load (on a shared machine the load drifts within a run).

Tracing is off in that environment (no ``LAMBDA_TASK_ROOT``: outside Lambda, Powertools' Tracer
records nothing), and the handlers then do not import the X-Ray SDK. The second figure of each
row is the same import with tracing on, as in Lambda with ``Tracing: Active``: the Tracer then
imports the X-Ray SDK and patches botocore at import (``--traced-repeat 0`` skips it).
Then ``python -X importtime`` shows, per handler, the five heaviest imports (cumulative) made
by the handler's own import statements, and the five heaviest top-level packages by their own
import time summed: the candidates for a lazy import.

Usage: python bench/cold_start.py [--repeat 5] [--top 5] [--importtime-runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "greenrail"

# Import-time environment: what template.yaml's Globals and the functions set, and fakes for the rest.
LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: nothing answers
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Greenrail",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "GREENRAIL_BUS_NAME": "greenrail-decisions",
    "GREENRAIL_STATE_TABLE": "greenrail-state",
    "GREENRAIL_POLICY_PARAMETER": "/greenrail/policy",
    "GREENRAIL_TRAINING_WATCH_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:greenrail-training-watch",
    "GREENRAIL_ACCOUNT_ID": "123456789012",
}

HANDLER_SNIPPET = """
import importlib.util, sys, time
path = sys.argv[1]
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[3])
sys.stderr.write("--bench-start--" + chr(10))
sys.stderr.flush()
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
t1 = time.perf_counter()
assert any(callable(getattr(module, n, None)) for n in ("handler", "lambda_handler")), "no handler"
print(t1 - t0)
"""

BOTO3_SNIPPET = """
import time
t0 = time.perf_counter()
import boto3  # noqa: F401
print(time.perf_counter() - t0)
"""


def env_for(name: str, traced: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "POWERTOOLS_", "GREENRAIL_", "LAMBDA_TASK_ROOT"))}
    env.update(LAMBDA_ENV)
    if traced:  # in Lambda: Powertools' Tracer records (Tracing: Active)
        env["LAMBDA_TASK_ROOT"] = str(FUNCTIONS / name)
    env["POWERTOOLS_SERVICE_NAME"] = f"greenrail-{name.replace('_', '-')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # do not touch the tree's bytecode cache
    return env


def handler_args(app: Path) -> list[str]:
    return [str(app), str(app.parent), str(LAYER)]


def run_once(code: str, args: list[str], env: dict[str, str], importtime: bool = False) -> tuple[float, str]:
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code, *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    return float(done.stdout.strip().splitlines()[-1]), done.stderr


def median_seconds(code: str, args: list[str], env: dict[str, str], repeat: int) -> float:
    run_once(code, args, env)  # warm the OS file cache and the bytecode cache
    return statistics.median(run_once(code, args, env)[0] for _ in range(repeat))


def paired_medians(args: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """(handler, ``import boto3``) medians, their runs interleaved."""
    run_once(HANDLER_SNIPPET, args, env)  # warm the OS file cache and the bytecode cache
    handler, boto3 = [], []
    for _ in range(repeat):
        boto3.append(run_once(BOTO3_SNIPPET, [], env_for("boto3"))[0])
        handler.append(run_once(HANDLER_SNIPPET, args, env)[0])
    return statistics.median(handler), statistics.median(boto3)


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """(depth, self us, cumulative us, module) rows of ``-X importtime`` output."""
    rows = []
    if "--bench-start--" in stderr:  # only what the handler imports, not the interpreter's start-up
        stderr = stderr.split("--bench-start--", 1)[1]
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, int(self_us), int(cumulative_us), name.strip()))
    return rows


def median_rows(runs: list[list[tuple[int, int, int, str]]]) -> list[tuple[int, int, int, str]]:
    """Per module, the median self and cumulative time over several runs (the tree is the same)."""
    first = runs[0]
    by_name = [{row[3]: row for row in rows} for rows in runs]
    merged = []
    for depth, _, _, name in first:
        found = [rows[name] for rows in by_name if name in rows]
        merged.append((depth, int(statistics.median(r[1] for r in found)),
                       int(statistics.median(r[2] for r in found)), name))
    return merged


def heaviest(rows: list[tuple[int, int, int, str]], top: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Top imports made directly by the handler (cumulative), and top packages by summed self time."""
    direct = sorted(((name, cum) for depth, _, cum, name in rows if depth == 0), key=lambda r: -r[1])
    packages: dict[str, int] = {}
    for _, self_us, _, name in rows:
        root = name.split(".", 1)[0]
        packages[root] = packages.get(root, 0) + self_us
    return direct[:top], sorted(packages.items(), key=lambda r: -r[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--importtime-runs", type=int, default=3)
    parser.add_argument("--traced-repeat", type=int, default=3, help="runs of each import with tracing on (0: none)")
    args = parser.parse_args()

    apps = sorted(FUNCTIONS.glob("*/app.py"))
    base_env = env_for("boto3")
    boto3_s = median_seconds(BOTO3_SNIPPET, [], base_env, args.repeat)
    print(f"cold-start imports, fresh interpreter each, median of {args.repeat} "
          f"({sys.executable.replace(str(ROOT) + '/', '')}, Python {sys.version.split()[0]}); each handler's "
          "ratio is to import boto3 timed in between its own runs")
    print(f"  {'baseline: import boto3':<34} {boto3_s * 1000:8.1f} ms   1.00x")
    results, ratios = {}, {}
    for app in apps:
        name = app.parent.name
        try:
            seconds, base = paired_medians(handler_args(app), env_for(name), args.repeat)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"  {name:<34} import failed: {exc}")
            continue
        results[name], ratios[name] = seconds, seconds / base
        traced = ""
        if args.traced_repeat > 0:
            on = median_seconds(HANDLER_SNIPPET, handler_args(app), env_for(name, traced=True), args.traced_repeat)
            traced = f"   tracing on: {on * 1000:8.1f} ms  {on / base:5.2f}x"
        print(f"  {name:<34} {seconds * 1000:8.1f} ms  {ratios[name]:5.2f}x boto3 ({base * 1000:.0f} ms){traced}")
    if results:
        ordered = sorted(results.values())
        worst = max(ratios, key=lambda n: ratios[n])
        print(f"  handlers: fastest {ordered[0] * 1000:.1f} ms, slowest {ordered[-1] * 1000:.1f} ms, "
              f"median {statistics.median(ordered) * 1000:.1f} ms; ratios {min(ratios.values()):.2f}x-"
              f"{ratios[worst]:.2f}x (median {statistics.median(ratios.values()):.2f}x), worst {worst} "
              "[target <= 1.25]")

    print(f"\nheaviest imports per handler (python -X importtime, median of {args.importtime_runs} runs, "
          f"top {args.top}):")
    for app in apps:
        name = app.parent.name
        if name not in results:
            continue
        runs = [parse_importtime(run_once(HANDLER_SNIPPET, handler_args(app), env_for(name), importtime=True)[1])
                for _ in range(args.importtime_runs)]
        rows = median_rows(runs)
        direct, packages = heaviest(rows, args.top)
        first = {}  # package -> cumulative time of its first import
        for _, _, cumulative, module in rows:
            first.setdefault(module, cumulative)
        flags = [f"{m} {first[m] / 1000:.1f} ms" for m in
                 ("boto3", "botocore", "pydantic", "aws_lambda_powertools", "yaml", "jmespath") if m in first]
        print(f"  {name}  (package imports, cumulative: {', '.join(flags) or '-'})")
        print("    handler's imports, cumulative: "
              + ", ".join(f"{mod} {us / 1000:.1f} ms" for mod, us in direct))
        print("    packages, own time summed:     "
              + ", ".join(f"{mod} {us / 1000:.1f} ms" for mod, us in packages))


if __name__ == "__main__":
    main()
