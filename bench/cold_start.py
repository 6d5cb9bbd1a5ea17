"""Cold-start imports: what each Lambda handler module costs to import, against ``import boto3``.

Each measurement runs in a fresh interpreter (nothing cached in ``sys.modules``; the bytecode
cache on disk is warm, as it is in a Lambda layer: the bench keeps its own, under
``$TMPDIR/greenrail-bench-pycache``, so a stale cache in the tree is never measured). What is
measured is the import alone, not the interpreter's own start-up. The handler is loaded the way
Lambda loads it: its directory on ``sys.path``, the module executed from ``app.py``, with the
environment the template gives it (plus fake credentials and an unreachable endpoint, so an
import-time AWS call cannot succeed).

The baseline, measured in the same run and the same way, is ``import boto3``. Three measures,
each a ratio to that baseline:

* wall: elapsed time (``time.perf_counter``) around the import, the median of ``--repeat`` runs,
  interleaved with as many runs of ``import boto3`` (boto3, handler, boto3, handler, ...) so that
  each handler's ratio is to ``import boto3`` timed under the same load. What Lambda's Init
  duration is made of, but on a shared machine the load moves it: the baseline alone swings by
  half within one run, and so do the ratios by a few hundredths.
* instructions: the instructions the CPU executes for the import, counted by valgrind
  (``cachegrind --cache-sim=no``: every guest instruction, nothing simulated), once per handler
  (``--count-runs``): the count of a run that imports the handler (or boto3) and exits at once,
  minus that of the same interpreter start-up importing nothing. Load does not move it (with
  ``PYTHONHASHSEED=0``, three runs on this machine gave the same counts to 0.1%); it does not see time
  spent waiting for the disk or the cost of an instruction (a cache miss counts as one), so it is
  a measure of the work, not of the milliseconds. Left out if valgrind is not installed;
  hardware counters (``perf stat -e instructions``) would be faster, but virtual machines like
  this one often do not expose them.
* cpu: the process's CPU time (``time.process_time``) around the import, median of the same
  runs as wall. An import hardly waits (the files are in the OS cache), so on a virtual machine it
  follows wall closely: what slows it down here (other work on the same physical core, the
  hypervisor taking the vCPU away) is counted as CPU time too. Printed so that this shows.

Tracing is off in that environment (no ``LAMBDA_TASK_ROOT``: outside Lambda, Powertools' Tracer
records nothing), and the handlers then do not import the X-Ray SDK. The "tracing on" figure of
each row is the same import with tracing on, as in Lambda with ``Tracing: Active``: the Tracer
then imports the X-Ray SDK and patches botocore at import (``--traced-repeat 0`` skips it).
Then ``python -X importtime`` shows, per handler, the five heaviest imports (cumulative) made
by the handler's own import statements, and the five heaviest top-level packages by their own
import time summed: the candidates for a lazy import.

Usage: python bench/cold_start.py [--repeat 5] [--count-runs 1] [--top 5] [--importtime-runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "greenrail"
PYCACHE = Path(tempfile.gettempdir()) / "greenrail-bench-pycache"  # the bench's own bytecode cache

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
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
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
t0, c0 = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
t1, c1 = time.perf_counter(), time.process_time()
assert any(callable(getattr(module, n, None)) for n in ("handler", "lambda_handler")), "no handler"
print(t1 - t0, c1 - c0)
"""

BOTO3_SNIPPET = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import boto3  # noqa: F401
print(time.perf_counter() - t0, time.process_time() - c0)
"""

# Instruction counts: each snippet between the same prologue and an exit that skips the
# interpreter's teardown (which grows with what was imported), against the two alone.
COUNT_PROLOGUE = "import importlib.util, os, sys, time\n"
COUNT_EXIT = "\nsys.stdout.flush()\nos._exit(0)\n"
VALGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]


def env_for(name: str, traced: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "POWERTOOLS_", "GREENRAIL_", "LAMBDA_TASK_ROOT"))}
    env.update(LAMBDA_ENV)
    if traced:  # in Lambda: Powertools' Tracer records (Tracing: Active)
        env["LAMBDA_TASK_ROOT"] = str(FUNCTIONS / name)
    env["POWERTOOLS_SERVICE_NAME"] = f"greenrail-{name.replace('_', '-')}"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)  # warm, and not the tree's (which may be stale)
    return env


def handler_args(app: Path) -> list[str]:
    return [str(app), str(app.parent), str(LAYER)]


def run(code: str, args: list[str], env: dict[str, str], importtime: bool = False) -> tuple[float, float, str]:
    """The import's wall and cpu seconds, and the run's stderr."""
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code, *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu), done.stderr


def run_once(code: str, args: list[str], env: dict[str, str], importtime: bool = False) -> tuple[float, str]:
    """The import's wall seconds, and the run's stderr."""
    wall, _, stderr = run(code, args, env, importtime)
    return wall, stderr


def run_timed(code: str, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """The import's wall and cpu seconds."""
    wall, cpu, _ = run(code, args, env)
    return wall, cpu


def median_seconds(code: str, args: list[str], env: dict[str, str], repeat: int) -> float:
    run_once(code, args, env)  # warm the OS file cache and the bytecode cache
    return statistics.median(run_once(code, args, env)[0] for _ in range(repeat))


def paired_medians(args: list[str], env: dict[str, str], repeat: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(handler, ``import boto3``) medians, each (wall, cpu) seconds, their runs interleaved."""
    run_once(HANDLER_SNIPPET, args, env)  # warm the OS file cache and the bytecode cache
    handler, boto3 = [], []
    for _ in range(repeat):
        boto3.append(run_timed(BOTO3_SNIPPET, [], env_for("boto3")))
        handler.append(run_timed(HANDLER_SNIPPET, args, env))
    return ((statistics.median(w for w, _ in handler), statistics.median(c for _, c in handler)),
            (statistics.median(w for w, _ in boto3), statistics.median(c for _, c in boto3)))


def instructions(code: str, args: list[str], env: dict[str, str]) -> int:
    """Instructions executed by a fresh interpreter running ``code`` (valgrind; deterministic)."""
    env = {**env, "PYTHONHASHSEED": "0"}  # str hashes, hence dict and set layouts, the same each run
    if code:
        run_once(code, args, env)  # the bytecode cache warm for what this run imports
    cmd = [*VALGRIND, sys.executable, "-c", COUNT_PROLOGUE + code + COUNT_EXIT, *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "valgrind failed")
    return int(found.group(1).replace(",", ""))


def count_imports(apps: list[Path], runs: int, jobs: int) -> tuple[int, dict[str, int]]:
    """Instructions of ``import boto3`` and of each handler's import (the least of ``runs`` counts,
    less the prologue's), ``jobs`` valgrind runs at a time: counts do not mind the load. (0, {})
    without valgrind."""
    if runs <= 0:
        return 0, {}
    if not shutil.which("valgrind"):
        print("valgrind not installed: no instruction counts", file=sys.stderr)
        return 0, {}
    print(f"counting instructions under valgrind ({len(apps) + 2} runs, {jobs} at a time)...",
          file=sys.stderr, flush=True)
    jobs_list: list[tuple[str, str, list[str], dict[str, str]]] = [
        ("", "", [], env_for("boto3")), ("boto3", BOTO3_SNIPPET, [], env_for("boto3"))]
    jobs_list += [(app.parent.name, HANDLER_SNIPPET, handler_args(app), env_for(app.parent.name)) for app in apps]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {name: [pool.submit(instructions, code, args, env) for _ in range(runs)]
                   for name, code, args, env in jobs_list}
    counts = {}
    for name, pending in futures.items():
        try:
            counts[name] = min(f.result() for f in pending)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"  {name or 'prologue'}: instructions not counted: {exc}", file=sys.stderr)
    prologue = counts.pop("", 0)
    baseline = counts.pop("boto3", 0) - prologue
    return baseline, {name: count - prologue for name, count in counts.items()}


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
    parser.add_argument("--count-runs", type=int, default=1,
                        help="valgrind instruction counts of each import (0: none; each count is the same)")
    parser.add_argument("--count-jobs", type=int, default=2, help="valgrind runs at a time")
    args = parser.parse_args()

    apps = sorted(FUNCTIONS.glob("*/app.py"))
    base_env = env_for("boto3")
    count_base, counted = count_imports(apps, args.count_runs, args.count_jobs)
    boto3_s = median_seconds(BOTO3_SNIPPET, [], base_env, args.repeat)
    print(f"cold-start imports, fresh interpreter each, median of {args.repeat} "
          f"({sys.executable.replace(str(ROOT) + '/', '')}, Python {sys.version.split()[0]}); each handler's "
          "ratio is to import boto3 timed in between its own runs")
    count_note = f"   instructions: {count_base / 1e6:7.1f} M   1.00x" if count_base > 0 else ""
    print(f"  {'baseline: import boto3':<34} {boto3_s * 1000:8.1f} ms   1.00x{count_note}")
    results, ratios, cpu_ratios, count_ratios = {}, {}, {}, {}
    for app in apps:
        name = app.parent.name
        try:
            (seconds, cpu), (base, base_cpu) = paired_medians(handler_args(app), env_for(name), args.repeat)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"  {name:<34} import failed: {exc}")
            continue
        results[name], ratios[name], cpu_ratios[name] = seconds, seconds / base, cpu / base_cpu
        traced = ""
        if args.traced_repeat > 0:
            on = median_seconds(HANDLER_SNIPPET, handler_args(app), env_for(name, traced=True), args.traced_repeat)
            traced = f"   tracing on: {on * 1000:8.1f} ms  {on / base:5.2f}x"
        counts = ""
        if name in counted and count_base > 0:
            count_ratios[name] = counted[name] / count_base
            counts = f"   instructions: {counted[name] / 1e6:7.1f} M  {count_ratios[name]:5.2f}x"
        print(f"  {name:<34} {seconds * 1000:8.1f} ms  {ratios[name]:5.2f}x boto3 ({base * 1000:.0f} ms){traced}"
              f"{counts}   cpu: {cpu_ratios[name]:5.2f}x")
    if results:
        ordered = sorted(results.values())
        worst = max(ratios, key=lambda n: ratios[n])
        print(f"  handlers: fastest {ordered[0] * 1000:.1f} ms, slowest {ordered[-1] * 1000:.1f} ms, "
              f"median {statistics.median(ordered) * 1000:.1f} ms; ratios {min(ratios.values()):.2f}x-"
              f"{ratios[worst]:.2f}x (median {statistics.median(ratios.values()):.2f}x), worst {worst} "
              "[target <= 1.25]")
    for label, by_name in (("wall", ratios), ("instructions", count_ratios), ("cpu", cpu_ratios)):
        if by_name:
            worst_of = max(by_name, key=lambda n: by_name[n])
            print(f"  worst by {label + ':':<13} {worst_of} {by_name[worst_of]:.2f}x "
                  f"(median {statistics.median(by_name.values()):.2f}x) [target <= 1.25]")

    print_importtime(apps, set(results), args.top, args.importtime_runs)


def print_importtime(apps: list[Path], imported: set[str], top: int, importtime_runs: int) -> None:
    """Per handler: its heaviest imports and packages (``python -X importtime``)."""
    print(f"\nheaviest imports per handler (python -X importtime, median of {importtime_runs} runs, "
          f"top {top}):")
    for app in apps:
        name = app.parent.name
        if name not in imported:
            continue
        runs = [parse_importtime(run_once(HANDLER_SNIPPET, handler_args(app), env_for(name), importtime=True)[1])
                for _ in range(importtime_runs)]
        rows = median_rows(runs)
        direct, packages = heaviest(rows, top)
        first: dict[str, int] = {}  # package -> cumulative time of its first import
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
