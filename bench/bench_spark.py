"""The same stream through both engines, side by side in one run: landing lines/s, the first
build, a 10k-event batch and a replay, each a `countonce` process as an operator runs it.

    .venv/bin/python -m bench.bench_spark --events 100000

Each engine gets its own home in a temporary directory (an embedded PostgreSQL; Spark in
local mode with its warehouse and Derby metastore). The stream is `countonce generate`'s
(retries, replays, late and out-of-order events, conflicts, refunds, malformed lines).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_pipeline import Stream
from bench.results import record
from countonce.settings import child_environment

REPO = Path(__file__).resolve().parent.parent
ENGINES = ("postgres", "spark")


def countonce(env: dict[str, str], *args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "countonce", *args, "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"countonce {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return seconds, json.loads(proc.stdout)


def replay(files: list[Path], inbox: Path) -> None:
    """Every file sent again under another name, as an operator replaying them would."""
    for path in files:
        shutil.copyfile(path, inbox / f"replay-{path.name}")


def engine_figures(home: Path, engine: str, files: list[Path], events: int) -> dict:
    env = child_environment({"COUNTONCE_HOME": str(home), "COUNTONCE_TARGET": engine})
    figures: dict[str, object] = {}
    seconds, summary = countonce(env, "ingest", *map(str, files))
    lines, loading = summary["lines_read"], summary["seconds"]
    figures["ingest"] = {
        "lines": lines,
        "loader_seconds": loading,
        "process_seconds": round(seconds, 2),
        "lines_per_second": round(lines / loading),
    }
    print(
        f"{engine:8} ingest {lines:,} lines: {lines / loading:,.0f} lines/s "
        f"(loader {loading:.1f} s, process {seconds:.1f} s)",
        flush=True,
    )

    stream = Stream(1)
    for label, prepare in (
        ("first build", lambda: None),
        (
            f"{events // 1000}k-event batch",
            lambda: stream.write_batch(home / "inbox", "batch", events),
        ),
        ("replay of every file", lambda: replay(files, home / "inbox")),
    ):
        prepare()
        seconds, run = countonce(env, "run")
        figures[label] = {
            "seconds": round(seconds, 2),
            **{f: run[f] for f in ("load_seconds", "dbt_seconds", "checks_seconds", "rows_loaded")},
        }
        stages = ", ".join(
            f"{f.split('_')[0]} {float(run[f] or 0):.1f} s"
            for f in ("load_seconds", "dbt_seconds", "checks_seconds")
        )
        print(f"{engine:8} {label:22} {seconds:6.1f} s  ({stages})", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="logical events generated")
    parser.add_argument("--batch-events", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="countonce-bench-spark-") as tmp:
        stream_dir = Path(tmp) / "stream"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "countonce",
                "generate",
                str(stream_dir),
                "--events",
                str(args.events),
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        files = sorted(stream_dir.glob("*.jsonl"))
        figures = {e: engine_figures(Path(tmp) / e, e, files, args.batch_events) for e in ENGINES}
    ratio = (
        figures["spark"]["ingest"]["lines_per_second"]
        / figures["postgres"]["ingest"]["lines_per_second"]
    )
    print(f"Spark landing at {ratio:.2f}x PostgreSQL's COPY")
    record("spark", figures)


if __name__ == "__main__":
    main()
