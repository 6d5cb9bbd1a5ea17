"""``greenrail report`` on a large decision log: wall time and peak memory.

Writes a gzip-compressed JSON-lines log of ``--decisions`` decisions (default one million: storage
tags in dry-run and enforce, training stops, retraining holds, carbon records; eight accounts,
four regions, twelve months; one line in ten is an EventBridge event carrying its decision, as
the decision log may hold, and a few lines are malformed), then runs
``greenrail report --from LOG --out report.html`` in a child process and prints its wall time and
peak resident memory (the child's ``ru_maxrss``).

Baseline, measured in the same run on the same file: a child process that only decompresses the
log and ``json.loads`` every line. The ratio says what aggregating, validating and rendering
costs on top of reading. The goal (issue 13): within a minute and under 1 GiB for one million.

Usage: python bench/report_scale.py [--decisions 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from greenrail.decision import Decision, Mode, Savings

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = [f"1111222233{n:02d}" for n in range(8)]
REGIONS = ["us-east-1", "eu-west-1", "eu-north-1", "ap-southeast-2"]
MALFORMED_EVERY = 100_000
BASELINE = """
import gzip, json, sys
n = 0
with gzip.open(sys.argv[1], "rb") as f:
    for line in f:
        try:
            json.loads(line)
        except ValueError:
            pass
        n += 1
print(n)
"""


def templates() -> list[Decision]:
    """One decision of each kind the log holds (placeholders for resource, account, region, date)."""
    base: dict[str, Any] = {"account": "ACCOUNT", "region": "REGION", "decided_at": "2026-01-01T00:00:00Z"}
    return [
        Decision(policy="storage", resource="arn:aws:s3:::acme-ml-data/train/part-NUMBER.parquet", action="tag",
                 target={"storage_class": "STANDARD_IA"}, mode=Mode.ENFORCE, applied=True, reason="training data",
                 figures={"size_gb": 1.5, "category": "train"}, savings=Savings(usd_per_month=0.0135,
                                                                                 kgco2e_per_month=0.0008), **base),
        Decision(policy="storage", resource="arn:aws:s3:::acme-ml-raw/raw/NUMBER.json.gz", action="tag",
                 target={"storage_class": "GLACIER_IR"}, mode=Mode.DRY_RUN, reason="raw data, cold",
                 figures={"size_gb": 4.0}, savings=Savings(usd_per_month=0.076, kgco2e_per_month=0.004), **base),
        Decision(policy="storage", resource="arn:aws:s3:::acme-ml-data/index-NUMBER.json", action="none",
                 mode=Mode.ENFORCE, compliant=True, reason="smaller than 128 KiB", **base),
        Decision(policy="training", resource="arn:aws:sagemaker:REGION:ACCOUNT:training-job/job-NUMBER",
                 action="stop", mode=Mode.ENFORCE, applied=True, reason="idle GPUs for 60 min",
                 figures={"savings_basis": "one-off: the remaining projected runtime"},
                 savings=Savings(usd_per_month=41.3, kgco2e_per_month=1.2), severity="HIGH", **base),
        Decision(policy="training", resource="arn:aws:sagemaker:REGION:ACCOUNT:training-job/job-NUMBER",
                 action="stop", mode=Mode.ENFORCE, held_back=True, reason="runaway; blast radius reached",
                 figures={"savings_basis": "one-off"}, savings=Savings(usd_per_month=12.0, kgco2e_per_month=0.3),
                 **base),
        Decision(policy="carbon", resource="arn:aws:sagemaker:REGION:ACCOUNT:training-job/job-NUMBER",
                 action="publish-carbon-record", mode=Mode.ENFORCE, applied=True, reason="carbon record written",
                 figures={"training_job": "job-NUMBER", "kwh": 3.2, "kgco2e": 1.1, "estimated": True}, **base),
        Decision(policy="retraining", resource="arn:aws:sagemaker:REGION:ACCOUNT:endpoint/model-NUMBER",
                 action="hold", mode=Mode.ENFORCE, reason="KPI healthy",
                 figures={"savings_basis": "one-off, estimated"}, savings=Savings(usd_per_month=22.0,
                                                                                  kgco2e_per_month=0.6), **base),
    ]


def write_log(path: Path, count: int) -> int:
    """The log, and the number of malformed lines planted in it."""
    rng = random.Random(13)
    lines = [t.model_dump_json() for t in templates()]
    weights = [40, 25, 15, 6, 2, 8, 4]
    malformed = 0
    with gzip.open(path, "wt", compresslevel=1, encoding="utf-8") as out:
        for n in range(count):
            if n % MALFORMED_EVERY == MALFORMED_EVERY - 1:
                out.write('{"policy": "storage", "truncated\n')
                malformed += 1
                continue
            line = rng.choices(lines, weights)[0]
            month = 1 + n * 12 // count
            line = (line.replace("ACCOUNT", ACCOUNTS[n % len(ACCOUNTS)]).replace("REGION", REGIONS[n % len(REGIONS)])
                    .replace("NUMBER", str(n)).replace("2026-01-01T00:00:00", f"2026-{month:02d}-{1 + n % 28:02d}T"
                                                                              f"{n % 24:02d}:{n % 60:02d}:00"))
            if n % 10 == 0:
                line = json.dumps({"version": "0", "id": str(n), "detail-type": "Greenrail Decision",
                                   "source": "greenrail", "detail": json.loads(line)})
            out.write(line + "\n")
    return malformed


def measured(argv: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, the child's CPU seconds (user + system), its peak RSS in MiB, and its stdout."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert child.stdout is not None and child.stderr is not None
    # wait4 reports the child's own resource usage (ru_maxrss in KiB on Linux)
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - start
    stdout, stderr = child.stdout.read(), child.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {stderr.decode()[-2000:]}")
    return took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout.decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write the log and the report here and keep them")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="greenrail-report-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    log, page = folder / "decisions.jsonl.gz", folder / "report.html"
    start = time.perf_counter()
    planted = write_log(log, args.decisions)
    print(f"log: {args.decisions:,} lines ({planted} malformed), {log.stat().st_size / 2**20:.1f} MiB gzip-compressed,"
          f" written in {time.perf_counter() - start:.1f} s")

    base_s, base_cpu, base_mib, _ = measured([sys.executable, "-c", BASELINE, str(log)])
    cli = [sys.executable, "-c", "import sys; from greenrail_cli.main import main; sys.exit(main())"]
    took, cpu, peak, out = measured([*cli, "report", "--from", str(log), "--out", str(page)])
    html = page.read_text(encoding="utf-8")
    raw = html.split('id="greenrail-data">', 1)[1].split("</script>", 1)[0]
    data = json.loads(raw)
    expected = args.decisions - planted
    ok = data["decisions"] == expected and data["malformed"]["count"] == planted
    print(f"baseline (gunzip + json.loads of every line): {base_s:6.1f} s wall, {base_cpu:6.1f} s CPU, "
          f"peak RSS {base_mib:6.0f} MiB")
    print(f"greenrail report:                           {took:6.1f} s wall, {cpu:6.1f} s CPU, "
          f"peak RSS {peak:6.0f} MiB  ({cpu / base_cpu:.1f}x the baseline's CPU time)")
    print(f"report: {page.stat().st_size / 1024:.0f} KiB, {data['decisions']:,} decisions, "
          f"{data['malformed']['count']} malformed lines named, {len(data['table']['rows']):,} table rows"
          f" -> {out.strip()}")
    load = os.getloadavg()[0]
    verdict = "met" if took < 60 and peak < 1024 else "NOT met"
    if verdict != "met" and cpu < 60 and peak < 1024 and load > (os.cpu_count() or 1):
        verdict += (f" in wall time, on a machine busy with other work (load average {load:.1f} on "
                    f"{os.cpu_count()} cores): its own CPU time, {cpu:.1f} s, is within it")
    print(f"goal: within 60 s and under 1024 MiB: {verdict}{'' if ok else '; COUNTS WRONG'}")
    if not args.keep:
        log.unlink()
        page.unlink()
        folder.rmdir()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
