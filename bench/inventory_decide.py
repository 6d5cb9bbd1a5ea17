"""Decide throughput on S3 Inventory rows, with peak memory, and the projected cost of a sweep.

What one worker (one Lambda invocation at a time, one process) does with a generated inventory
of ``--rows`` objects (default 10^6), in batches of ``--batch`` rows as ItemBatcher hands them:

* ``csv.gz``: gunzip + csv into rows named by fileSchema (what the Distributed Map's ItemReader
  does in AWS), then the batch as the decide function receives it (JSON), ``decide_rows`` and
  ``aggregate`` (``greenrail.storage_inventory``), the result as JSON;
* ``parquet`` (needs pyarrow, ``pip install -e '.[bench]'``): Parquet row groups into rows, then
  the same. In AWS the decoding is the Map's (the decide function reads what the ItemReader hands
  it), so both decode and decide figures are printed.

Baseline, measured in the same run: gunzip + ``csv.reader`` over the same file (reading the rows,
no decision); ratios are against it. Each phase runs in its own process so that its peak RSS is
its own. Then the projected wall time and cost (Step Functions, Lambda GB-seconds, GetObjectTagging,
S3 Batch Operations) of sweeping 10^6, 10^8 and 10^9 objects, with the arithmetic.

Benchmarks are not tests: figures and ratios, never a failure on a timing.

Usage: python bench/inventory_decide.py [--rows 1000000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ["Bucket", "Key", "Size", "LastModifiedDate", "StorageClass", "ETag"]

# ---------------------------------------------------------------- prices (us-east-1, list, 2026)
SFN_STANDARD_PER_TRANSITION = 0.025 / 1000  # Standard workflows: $0.025 per 1,000 state transitions
SFN_EXPRESS_PER_REQUEST = 1.00 / 1e6  # Express child workflows: $1.00 per million requests
SFN_EXPRESS_PER_GB_SECOND = 0.00001667  # Express duration, billed in 64 MB chunks
EXPRESS_GB = 64 / 1024  # one 64 MB chunk per child (a 256 KB batch)
LAMBDA_PER_GB_SECOND = 0.0000133334  # arm64
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_GB = 1.0  # StorageInventoryFunction: MemorySize 1024
GET_TAGGING_PER_REQUEST = 0.0004 / 1000  # GetObjectTagging: GET-class request
PUT_TAGGING_PER_REQUEST = 0.005 / 1000  # PutObjectTagging (Batch Operations' or ours): PUT-class request
BATCH_OPS_PER_JOB = 0.25
BATCH_OPS_PER_OBJECT = 1.00 / 1e6
INVENTORY_PER_OBJECT = 0.0025 / 1e6  # S3 Inventory: $0.0025 per million objects listed
TAG_LOOKUP_SECONDS = 0.020  # one GetObjectTagging round trip from Lambda (assumed)
TAG_LOOKUPS_AT_ONCE = 16  # greenrail.flows.inventory.TAG_LOOKUPS_AT_ONCE
MAX_CONCURRENCY = 100  # statemachines/storage_inventory.asl.json: DecideRows.MaxConcurrency

FOLDERS = ["datasets/imagenet/train", "datasets/imagenet/val", "datasets/churn/test", "raw/clicks/2026-11",
           "models/checkpoints/run-17", "features/train/user", "logs/app", "exports/weekly"]
CLASSES = ["STANDARD"] * 7 + ["INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA", "GLACIER"]
SIZES = [2_000, 60_000, 140_000, 900_000, 3_000_000, 40_000_000, 800_000_000]


def generate(path: Path, rows: int, parquet_path: Path | None) -> None:
    """A CSV gzip inventory file (and the same rows as Parquet) of ``rows`` objects."""
    rng = random.Random(14)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    columns: dict[str, list[Any]] = {"bucket": [], "key": [], "size": [], "storage_class": [], "e_tag": []}
    with gzip.open(path, "wt", compresslevel=1, newline="") as out:
        for i in range(rows):
            key = f"{rng.choice(FOLDERS)}/shard-{i % 997:04d}/part {i:08d}.bin"
            size, storage_class, etag = rng.choice(SIZES) + i % 1000, rng.choice(CLASSES), f"{i:032x}"
            writer.writerow(["acme-ml-datasets", key.replace(" ", "%20"), size, "2026-11-01T00:00:00.000Z",
                             storage_class, etag])
            if parquet_path is not None:
                for name, value in zip(columns, ("acme-ml-datasets", key, size, storage_class, etag), strict=True):
                    columns[name].append(value)
            if i % 10_000 == 9_999:
                out.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        out.write(buffer.getvalue())
    if parquet_path is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(columns), parquet_path, row_group_size=100_000)


def csv_batches(path: Path, batch: int) -> Any:
    with gzip.open(path, "rt", newline="") as stream:
        rows: list[dict[str, str]] = []
        for record in csv.reader(stream):
            rows.append(dict(zip(SCHEMA, record, strict=False)))
            if len(rows) == batch:
                yield rows
                rows = []
        if rows:
            yield rows


def parquet_batches(path: Path, batch: int) -> Any:
    import pyarrow.parquet as pq

    for record_batch in pq.ParquetFile(path).iter_batches(batch_size=batch):
        yield record_batch.to_pylist()


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: reset by exec, unlike getrusage's ru_maxrss,
    which a child started by fork+exec inherits from its parent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, path: Path, batch: int) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    if name == "baseline":
        start = time.perf_counter()
        count = 0
        with gzip.open(path, "rt", newline="") as stream:
            for _ in csv.reader(stream):
                count += 1
        return {"rows": count, "seconds": time.perf_counter() - start, "decode_seconds": 0.0,
                "peak_rss_mb": peak_rss_mb()}

    from greenrail import storage_inventory as inv
    from greenrail.policies.storage import StoragePolicy

    policy = StoragePolicy()
    prices = inv.prices_for("us-east-1")
    classes: dict[str, tuple[str, str]] = {}
    batches = csv_batches(path, batch) if name == "csv.gz" else parquet_batches(path, batch)
    decode = decide = 0.0
    rows = candidates = 0
    groups = 0
    while True:
        start = time.perf_counter()
        items = next(batches, None)
        if items is None:
            break
        payload = json.dumps({"Items": items, "BatchInput": {"bucket": "acme-ml-datasets"}})  # what Lambda receives
        decode += time.perf_counter() - start
        start = time.perf_counter()
        request = json.loads(payload)
        outcome = inv.decide_rows(request["Items"], policy, prices, url_encoded=name == "csv.gz", classes=classes)
        result = json.dumps({"rows": outcome.rows, "groups": inv.aggregate(outcome.candidates, prices)})
        decide += time.perf_counter() - start
        rows += outcome.rows
        candidates += len(outcome.candidates)
        groups += len(result) > 0
    return {"rows": rows, "candidates": candidates, "seconds": decode + decide, "decode_seconds": decode,
            "decide_seconds": decide, "peak_rss_mb": peak_rss_mb()}


def run_phase(name: str, path: Path, batch: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--phase", name, "--file", str(path), "--batch", str(batch)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def projection(objects: float, candidate_share: float, decide_per_second: float, batch: int) -> dict[str, float]:
    """Projected first sweep of ``objects`` (every candidate untagged: the Batch Operations path)."""
    batches = objects / batch
    candidates = objects * candidate_share
    lambda_seconds = batch / decide_per_second + batch * candidate_share * TAG_LOOKUP_SECONDS / TAG_LOOKUPS_AT_ONCE
    return {
        "batches": batches,
        "wall_hours": batches * lambda_seconds / MAX_CONCURRENCY / 3600,
        "sfn": batches * (SFN_STANDARD_PER_TRANSITION + SFN_EXPRESS_PER_REQUEST
                          + max(0.1, lambda_seconds) * EXPRESS_GB * SFN_EXPRESS_PER_GB_SECOND),
        "lambda": batches * (lambda_seconds * LAMBDA_GB * LAMBDA_PER_GB_SECOND + LAMBDA_PER_REQUEST),
        "lambda_gb_seconds": batches * lambda_seconds * LAMBDA_GB,
        "tag_lookups": candidates * GET_TAGGING_PER_REQUEST,
        "batch_operations": 2 * BATCH_OPS_PER_JOB + candidates * BATCH_OPS_PER_OBJECT,
        "put_tagging": candidates * PUT_TAGGING_PER_REQUEST,
        "inventory": objects * INVENTORY_PER_OBJECT,
        "lambda_seconds_per_batch": lambda_seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--phase", default="")
    parser.add_argument("--file", default="")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, Path(args.file), args.batch)))
        return 0
    try:
        import pyarrow  # noqa: F401
        has_parquet = True
    except ImportError:
        has_parquet = False
    with tempfile.TemporaryDirectory() as folder:
        csv_path, parquet_path = Path(folder) / "inventory.csv.gz", Path(folder) / "inventory.parquet"
        start = time.perf_counter()
        generate(csv_path, args.rows, parquet_path if has_parquet else None)
        print(f"generated {args.rows:,} inventory rows in {time.perf_counter() - start:.1f} s "
              f"(csv.gz {csv_path.stat().st_size / 1e6:.1f} MB"
              + (f", parquet {parquet_path.stat().st_size / 1e6:.1f} MB)" if has_parquet else "; no pyarrow: no Parquet)"))
        base = run_phase("baseline", csv_path, args.batch)
        results = {"csv.gz": run_phase("csv.gz", csv_path, args.batch)}
        if has_parquet:
            results["parquet"] = run_phase("parquet", parquet_path, args.batch)
    base_rate = base["rows"] / base["seconds"]
    print(f"\nbaseline: gunzip + csv.reader, {base_rate:,.0f} rows/s, peak RSS {base['peak_rss_mb']:.0f} MB")
    print(f"{'format':<9}{'decode+decide':>16}{'decide only':>14}{'vs baseline':>13}{'peak RSS':>10}  aim")
    decide_rate = 0.0
    for name, result in results.items():
        whole = result["rows"] / result["seconds"]
        decide_only = result["rows"] / result["decide_seconds"]
        decide_rate = decide_rate or decide_only
        ok = "ok" if decide_only >= 50_000 and result["peak_rss_mb"] < 512 else "MISSED"
        print(f"{name:<9}{whole:>12,.0f} /s {decide_only:>10,.0f} /s {whole / base_rate:>11.2f}x"
              f"{result['peak_rss_mb']:>7.0f} MB  >= 50,000 objects/s per worker, < 512 MB: {ok}")
    share = results["csv.gz"]["candidates"] / results["csv.gz"]["rows"]
    print(f"\ncandidates (tags looked up, then tagged): {share:.1%} of the rows")
    print(f"per batch of {args.batch}: {args.batch:,} / {decide_rate:,.0f} rows/s decide + "
          f"{args.batch * share:,.0f} GetObjectTagging x {TAG_LOOKUP_SECONDS * 1000:.0f} ms / {TAG_LOOKUPS_AT_ONCE} at once")
    print(f"\n{'objects':>8}{'batches':>10}{'wall':>9}{'SFN':>9}{'Lambda':>9}{'GB-s':>10}{'GetTag':>9}"
          f"{'BatchOps':>10}{'PutTag':>10}{'total':>10}")
    for objects in (1e6, 1e8, 1e9):
        p = projection(objects, share, decide_rate, args.batch)
        total = p["sfn"] + p["lambda"] + p["tag_lookups"] + p["batch_operations"] + p["put_tagging"] + p["inventory"]
        print(f"{objects:>8.0e}{p['batches']:>10,.0f}{p['wall_hours']:>8.2f}h{p['sfn']:>8.2f}${p['lambda']:>8.2f}$"
              f"{p['lambda_gb_seconds']:>10,.0f}{p['tag_lookups']:>8.2f}${p['batch_operations']:>9.2f}$"
              f"{p['put_tagging']:>9.2f}${total:>9.2f}$")
    p = projection(1e8, share, decide_rate, args.batch)
    print(f"""
arithmetic for 10^8 objects (first sweep; every candidate untagged, so all go to Batch Operations):
  batches      = 10^8 / {args.batch} = {p['batches']:,.0f} Express child executions, {MAX_CONCURRENCY} at a time
  per batch    = {p['lambda_seconds_per_batch']:.3f} s of a {LAMBDA_GB:.0f} GB Lambda
  wall         = {p['batches']:,.0f} x {p['lambda_seconds_per_batch']:.3f} s / {MAX_CONCURRENCY} = {p['wall_hours']:.2f} h
  Step Functions = {p['batches']:,.0f} x (${SFN_STANDARD_PER_TRANSITION:.6f} Map transition + ${SFN_EXPRESS_PER_REQUEST:.6f} request
                 + {max(0.1, p['lambda_seconds_per_batch']):.3f} s x {EXPRESS_GB:.4f} GB x ${SFN_EXPRESS_PER_GB_SECOND}) = ${p['sfn']:.2f}
  Lambda       = {p['lambda_gb_seconds']:,.0f} GB-s x ${LAMBDA_PER_GB_SECOND} + {p['batches']:,.0f} x ${LAMBDA_PER_REQUEST:.7f} = ${p['lambda']:.2f}
  GetObjectTagging = {1e8 * share:,.0f} x ${GET_TAGGING_PER_REQUEST:.7f} = ${p['tag_lookups']:.2f}
  Batch Operations = 2 jobs x ${BATCH_OPS_PER_JOB} + {1e8 * share:,.0f} objects x ${BATCH_OPS_PER_OBJECT:.6f} = ${p['batch_operations']:.2f}
  PutObjectTagging = {1e8 * share:,.0f} x ${PUT_TAGGING_PER_REQUEST:.6f} = ${p['put_tagging']:.2f} (S3 bills the jobs' requests)
  S3 Inventory = 10^8 x ${INVENTORY_PER_OBJECT:.10f} = ${p['inventory']:.2f} a run""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
