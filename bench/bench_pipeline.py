"""Latency of one batch run, cold (`countonce run`, a new process) and warm (in a process
that has already imported dbt and Great Expectations, as `countonce schedule` is).

    .venv/bin/python -m bench.bench_pipeline --events 10000 --repeat 3

Each measured run gets a fresh file of --events events (5% re-sent copies) in the inbox: the
events of five minutes (a schedule of `--every 300`), each batch the five minutes after the
previous one's, the last ending now. A run recomputes and checks the minutes its batch
touches, so its cost follows the batch, not the number of runs before it.
Uses an embedded PostgreSQL in a temporary directory unless --database-url is given.
Targets (issue 6): warm <= 2 s, cold <= 8 s for 10k events.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.results import record
from countonce import db, logs
from countonce.settings import LIBPQ_VARIABLES, load_settings
from scheduler.pipeline import run_batch
from scheduler.stages import warm_up

REPO = Path(__file__).resolve().parent.parent

STAGE_FIELDS = ("load_seconds", "dbt_seconds", "checks_seconds")


BATCH_SPAN = timedelta(minutes=5)


class Stream:
    """Consecutive spans of event time (five minutes unless `span` says otherwise), the last
    of `batches` ending now. A steady stream (bench/bench_stream.py) writes a file a second with
    a one-second span, so its events are stamped as they are written."""

    def __init__(self, batches: int, span: timedelta = BATCH_SPAN) -> None:
        self._span = span
        self._next_start = datetime.now(UTC).replace(microsecond=0) - batches * span

    def save(self, path: Path) -> None:
        """Where the stream is, for another process to go on from (Stream.resume)."""
        path.write_text(self._next_start.isoformat())

    @classmethod
    def resume(cls, path: Path) -> Stream:
        stream = cls(0)
        stream._next_start = datetime.fromisoformat(path.read_text())
        return stream

    def write_batch(self, inbox: Path, name: str, events: int) -> Path:
        """`events` paid/refunded events over the next span, plus 5% re-sent copies."""
        start, self._next_start = self._next_start, self._next_start + self._span
        step = self._span / events
        lines = []
        for i in range(events):
            lines.append(
                json.dumps(
                    {
                        "event_id": f"{name}-{i}",
                        "order_id": f"{name}-o{i // 2}",
                        "event_type": "refunded" if i % 10 == 9 else "paid",
                        "amount": f"{i % 997}.{i % 100:02d}",
                        "currency": ("USD", "EUR", "GBP")[i % 3],
                        "event_time": (start + i * step).isoformat(),
                    }
                )
            )
        lines += lines[: events // 20]
        inbox.mkdir(parents=True, exist_ok=True)
        path = inbox / f"{name}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        return path


def cold(env: dict[str, str], inbox: Path, stream: Stream, events: int, repeat: int) -> list[dict]:
    out = []
    for i in range(repeat):
        stream.write_batch(inbox, f"cold{i}", events)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "countonce", "run", "--json"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"countonce run exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        record = json.loads(proc.stdout)
        out.append({"wall": wall, **{f: float(record[f] or 0) for f in STAGE_FIELDS}})
    return out


def warm(settings, params: dict[str, str], stream: Stream, events: int, repeat: int) -> list[dict]:
    warm_up()
    stream.write_batch(settings.inbox, "prime", events)
    run_batch(settings, params, trigger="schedule")  # parses dbt, opens GX once
    out = []
    for i in range(repeat):
        stream.write_batch(settings.inbox, f"warm{i}", events)
        started = time.perf_counter()
        record = run_batch(settings, params, trigger="schedule")
        wall = time.perf_counter() - started
        if record.status != "succeeded":
            sys.exit(f"warm run {record.status}: {record.error}")
        out.append({"wall": wall, **{f: float(getattr(record, f) or 0) for f in STAGE_FIELDS}})
    return out


def report(label: str, runs: list[dict], target: float) -> dict:
    walls = [r["wall"] for r in runs]
    stages = "  ".join(
        f"{f.split('_')[0]} {statistics.median(r[f] for r in runs):.2f}s" for f in STAGE_FIELDS
    )
    verdict = "ok" if statistics.median(walls) <= target else "over target"
    print(
        f"{label:5} median {statistics.median(walls):6.2f}s  min {min(walls):6.2f}s  "
        f"max {max(walls):6.2f}s  ({stages})  target <= {target:.0f}s: {verdict}"
    )
    return {"median_seconds": round(statistics.median(walls), 3), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="an empty database to use (default: embedded)")
    args = parser.parse_args()

    logs.configure(level=30)
    with tempfile.TemporaryDirectory(prefix="countonce-bench-") as home:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in LIBPQ_VARIABLES and not k.startswith("COUNTONCE_")
        }
        env["COUNTONCE_HOME"] = home
        if args.database_url:
            env["COUNTONCE_DATABASE_URL"] = args.database_url
        settings = load_settings(env)
        params = db.connection_params(settings)
        if not args.database_url:
            env["COUNTONCE_DATABASE_URL"] = " ".join(f"{k}={v}" for k, v in params.items())
        stream = Stream(batches=1 + 2 * args.repeat)
        try:
            print(f"{args.events} events per batch, {args.repeat} batches each")
            figures = {
                "events_per_batch": args.events,
                "warm": report(
                    "warm", warm(settings, params, stream, args.events, args.repeat), 2.0
                ),
                "cold": report(
                    "cold", cold(env, settings.inbox, stream, args.events, args.repeat), 8.0
                ),
            }
            record("pipeline", figures)
        finally:
            if not args.database_url:
                db.stop_embedded(settings)


if __name__ == "__main__":
    main()
