"""Loader throughput against `psql \\copy` of the same rows into the same table, and its memory.

    .venv/bin/python -m bench.bench_ingest --rows 1000000
    .venv/bin/python -m bench.bench_ingest --size-gb 2 --skip-psql     # peak RSS on 2 GB

Both runs start from a freshly created landing schema in a database of their own
(`countonce_bench`, dropped at the end) on the configured server (PG*/COUNTONCE_DATABASE_URL,
else the embedded one under COUNTONCE_HOME). psql gets the rows already in COPY format, so
it measures the server alone; the loader reads, validates and sends the JSON Lines file.
The loader runs as `countonce ingest` in its own process, its RSS polled every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.results import record
from countonce import db
from countonce.migrate import migrate
from countonce.settings import libpq_variables, load_settings
from ingest.chunk import copy_escape
from ingest.event_minute import utc_minute

REPO = Path(__file__).resolve().parent.parent

BENCH_DB = "countonce_bench"
CURRENCIES = ("USD", "EUR", "GBP", "JPY")


def write_inputs(jsonl: Path, copy_file: Path | None, rows: int, seed: int) -> int:
    """The JSON Lines file, and the same rows in COPY text format with the loader's columns."""
    rng = random.Random(seed)
    name = copy_escape(str(jsonl.resolve()).encode())
    offset = 0
    copy_target = copy_file or Path(os.devnull)
    with open(jsonl, "wb") as out, open(copy_target, "wb") as cp:
        for n in range(1, rows + 1):
            kind = "paid" if rng.random() < 0.6 else "created"
            stamp = (
                f"2026-11-20T{(n // 3_600_000) % 24:02d}:{(n // 60_000) % 60:02d}:"
                f"{(n // 1000) % 60:02d}.{n % 1000:03d}Z"
            )
            line = (
                f'{{"event_id":"evt-{n:010d}","order_id":"o-{n // 3:09d}",'
                f'"event_type":"{kind}","event_time":"{stamp}",'
                f'"customer_id":"c-{rng.randrange(1_000_000):06d}"'
            )
            if kind == "paid":
                amount = f"{rng.randrange(10_000)}.{rng.randrange(100):02d}"
                line += f',"amount":"{amount}","currency":"{rng.choice(CURRENCIES)}"'
            data = (line + "}").encode()
            out.write(data + b"\n")
            minute = utc_minute(stamp)
            cp.write(b"1\t%b\t%d\t%d\t%b\t%b\n" % (name, n, offset, copy_escape(data), minute))
            offset += len(data) + 1
    return offset


def fresh_schema(params: dict[str, str]) -> None:
    with db.connect(params, autocommit=True) as conn:
        conn.execute("drop schema if exists raw, dq, ops cascade")
        migrate(conn)
        conn.execute("checkpoint")


def run_psql(params: dict[str, str], copy_file: Path) -> float:
    from pgserver._commands import POSTGRES_BIN_PATH

    env = {**os.environ, **libpq_variables(params)}
    command = (
        "\\copy raw.order_events (load_batch_id, source_file, source_line, source_offset,"
        f" record, event_minute) from '{copy_file}'"
    )
    started = time.perf_counter()
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-c", command],
        env=env,
        check=True,
    )
    return time.perf_counter() - started


def run_loader(params: dict[str, str], jsonl: Path) -> tuple[float, dict, int]:
    """Wall seconds, the loader's JSON summary, and its peak RSS in bytes."""
    from psycopg.conninfo import make_conninfo

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "COUNTONCE_"))}
    env["COUNTONCE_DATABASE_URL"] = make_conninfo(**params)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "countonce", "ingest", str(jsonl), "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"loader failed with exit code {proc.returncode}")
    return seconds, json.loads(out), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--size-gb", type=float, help="Generate about this many GB instead.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="Where the input files go (default: tmp).")
    parser.add_argument("--skip-psql", action="store_true", help="Only run the loader.")
    args = parser.parse_args()
    rows = int(args.size_gb * 1024**3 / 160) if args.size_gb else args.rows

    settings = load_settings()
    server = db.connection_params(settings)
    db.drop_database(server, BENCH_DB)
    db.create_database(server, BENCH_DB)
    params = {**server, "dbname": BENCH_DB}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        jsonl, copy_file = Path(tmp) / "events.jsonl", Path(tmp) / "events.copy"
        size = write_inputs(jsonl, None if args.skip_psql else copy_file, rows, args.seed)
        print(f"rows: {rows:,}  file: {size / 1024**2:,.1f} MiB")
        psql_seconds = None
        if not args.skip_psql:
            fresh_schema(params)
            psql_seconds = run_psql(params, copy_file)
            print(f"psql \\copy: {psql_seconds:8.2f} s  {rows / psql_seconds:12,.0f} rows/s")
        fresh_schema(params)
        seconds, summary, peak = run_loader(params, jsonl)
        if summary["landed"] != rows:
            raise SystemExit(f"the loader landed {summary['landed']} of {rows} rows")
        print(
            f"loader:     {seconds:8.2f} s  {rows / seconds:12,.0f} rows/s "
            f"(in-process {summary['seconds']:.2f} s, {summary['batches']} batches)"
        )
        if psql_seconds:
            print(f"ratio loader/psql: {psql_seconds / seconds:.3f} (target >= 0.9)")
        print(f"loader peak RSS: {peak / 1024**2:,.1f} MiB (target <= 200 MiB)")
        record(
            "ingest" if not args.skip_psql else "ingest_memory",
            {
                "rows": rows,
                "file_mib": round(size / 1024**2, 1),
                "psql_copy_rows_per_second": round(rows / psql_seconds) if psql_seconds else None,
                "loader_rows_per_second": round(rows / seconds),
                "ratio_loader_to_psql": round(psql_seconds / seconds, 3) if psql_seconds else None,
                "loader_peak_rss_mib": round(peak / 1024**2, 1),
            },
        )
    db.drop_database(server, BENCH_DB)


if __name__ == "__main__":
    main()
