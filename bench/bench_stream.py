"""A steady stream through countonce: a producer writing files into the inbox at a fixed
rate, the scheduler running every few seconds over a landed history; freshness p50 and p95,
and the highest rate that holds without falling behind.

    .venv/bin/python -m bench.bench_stream --size 10000000 \\
        --rates 5000 10000 20000 30000 40000 --seconds 60 --every 2

- **History.** As bench/harness.py sets it up (bench_models' landing, countonce's first
  build, vacuum, analyze, cache), then one untimed batch run (it builds every model).
- **Scheduler.** scheduler.loop.BatchScheduler, what `countonce schedule --every N` runs:
  APScheduler, one run at a time, a missed run coalesced into one that starts as soon as the
  previous ends; warm (warm_up, as the command's process is). It runs for the whole
  benchmark, between the rates too.
- **Producer.** A separate process (its CPU is not the scheduler's interpreter's), which
  every `--file-every` seconds writes one file of rate x file-every events with
  bench_pipeline.Stream (stamped over that second as they are written, 5% of them re-sent in
  the same file) under a staging directory and renames it into the inbox, then logs when.
  Names sort in the order written, as the loader reads an inbox.
- **Freshness.** A poller reads, every `--poll` seconds, how many paid and refunded events
  analytics.fact_revenue_1m counts in the stream's minutes. The fact counts each event once,
  so a file's events are all visible from the first poll at which that count reaches the
  events written up to and including that file. Freshness from the inbox is that time minus
  the moment the file was renamed into the inbox (what a user of the fact waits); from
  landing, that time minus the landing commit of its rows (raw.load_batches.finished_at),
  the figure the goal is judged by. Percentiles are over events, of the files visible by the
  end of the drain (a step that did not drain says how many events were still not visible).
- **Holding.** A rate holds when the producer kept it (at least 95% of it), everything
  written was visible within `--drain` seconds after the producer stopped, and freshness did
  not grow: the last third's p95 (by write time) at most 1.5x the first third's plus one
  schedule interval. Rates are stepped upwards; the first that does not hold ends the steps
  (unless --all-rates). Each step starts once the previous one has drained. The runs of the
  step (ops.pipeline_runs) give how busy the scheduler was and the rate it processed.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness import drop, land_and_build, settle_history, work_settings
from bench.results import record
from countonce import db, logs
from countonce.settings import Settings

log = logging.getLogger(__name__)

DATABASE = "countonce_bench_stream"
VISIBLE = """
select coalesce(sum(paid_event_count + refund_event_count), 0)
from analytics.fact_revenue_1m
where minute >= %s
"""
LANDED = """
select source_file, extract(epoch from max(finished_at))
from raw.load_batches
where source_file = any(%s)
group by source_file
"""
RUNS = """
select
    count(*),
    count(*) filter (where status <> 'succeeded'),
    coalesce(sum(extract(epoch from finished_at - started_at)), 0),
    coalesce(sum(rows_loaded), 0),
    percentile_cont(0.5) within group (order by extract(epoch from finished_at - started_at)),
    percentile_cont(0.5) within group (order by load_seconds),
    percentile_cont(0.5) within group (order by dbt_seconds),
    percentile_cont(0.5) within group (order by checks_seconds)
from ops.pipeline_runs
where started_at >= to_timestamp(%s) and started_at < to_timestamp(%s) and status <> 'skipped'
"""


def produce(
    inbox: str, staging: str, prefix: str, rate: int, seconds: float, every: float, log_path: str
) -> None:
    """The producer process: a file every `every` seconds, renamed into the inbox whole."""
    from bench.bench_pipeline import Stream

    per_file = max(1, round(rate * every))
    stream = Stream(batches=0, span=timedelta(seconds=every))
    start = time.time()
    with open(log_path, "a") as written:
        for k in range(round(seconds / every)):
            due = start + k * every
            if due > time.time():
                time.sleep(due - time.time())
            path = stream.write_batch(Path(staging), f"{prefix}-{k:06d}", per_file)
            target = Path(inbox) / path.name
            path.replace(target)
            written.write(
                json.dumps({"file": str(target), "written_at": time.time(), "events": per_file})
                + "\n"
            )
            written.flush()


class Poller(threading.Thread):
    """How many of the stream's events the fact counts, every `interval` seconds."""

    def __init__(self, params: dict[str, str], since: datetime, interval: float) -> None:
        super().__init__(name="freshness-poller", daemon=True)
        self.params = params
        self.since = since
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        with db.connect(self.params, autocommit=True) as conn:
            while not self.done.is_set():
                count = conn.execute(VISIBLE, (self.since,)).fetchone()[0]
                self.samples.append((time.time(), int(count)))
                self.done.wait(self.interval)

    def latest(self) -> int:
        return self.samples[-1][1] if self.samples else 0


def percentile(pairs: list[tuple[float, int]], q: float) -> float:
    """The q-quantile of values weighted by counts: [(value, count), ...]."""
    pairs = sorted(pairs)
    total = sum(count for _, count in pairs)
    seen = 0
    for value, count in pairs:
        seen += count
        if seen >= q * total:
            return value
    return pairs[-1][0]


def visible_times(
    files: list[dict], samples: list[tuple[float, int]], baseline: int
) -> list[float | None]:
    """When each file's events were all counted (None: never, within the step)."""
    out, cumulative, i = [], 0, 0
    for entry in files:
        cumulative += entry["events"]
        while i < len(samples) and samples[i][1] - baseline < cumulative:
            i += 1
        out.append(samples[i][0] if i < len(samples) else None)
    return out


def step(
    settings: Settings,
    params: dict[str, str],
    poller: Poller,
    work: Path,
    rate: int,
    seconds: float,
    every: int,
    file_every: float,
    drain: float,
) -> dict:
    baseline = poller.latest()
    log_path = work / f"written-{rate}.jsonl"
    staging = work / "staging"
    staging.mkdir(exist_ok=True)
    producer = multiprocessing.get_context("spawn").Process(
        target=produce,
        args=(
            str(settings.inbox),
            str(staging),
            f"r{rate:07d}",
            rate,
            seconds,
            file_every,
            str(log_path),
        ),
        name="producer",
    )
    producer.start()
    producer.join()
    files = [json.loads(line) for line in log_path.read_text().splitlines()]
    total = sum(entry["events"] for entry in files)
    deadline = time.time() + drain
    while poller.latest() - baseline < total and time.time() < deadline:
        time.sleep(0.2)
    drained = poller.latest() - baseline >= total
    first, last = files[0]["written_at"], files[-1]["written_at"]
    time.sleep(2 * poller.interval)  # the poll that saw the last file is in the samples
    visible = visible_times(files, list(poller.samples), baseline)
    with db.connect(params, autocommit=True) as conn:
        landed = dict(conn.execute(LANDED, ([entry["file"] for entry in files],)).fetchall())
        runs = conn.execute(RUNS, (first - every, last + drain)).fetchone()
    freshness, from_landing = [], []
    for entry, seen in zip(files, visible, strict=True):
        freshness.append(None if seen is None else (seen - entry["written_at"], entry["events"]))
        if seen is not None and landed.get(entry["file"]) is not None:
            from_landing.append((seen - float(landed[entry["file"]]), entry["events"]))
    from_inbox = [f for f in freshness if f]
    produced_rate = total / max(last - first + file_every, 1e-9)
    third = max(1, len(files) // 3)
    early = [f for f in freshness[:third] if f]
    late = [f for f in freshness[-third:] if f]
    reasons = []
    if produced_rate < 0.95 * rate:
        reasons.append(f"the producer kept only {produced_rate:,.0f} events/s")
    if not drained:
        reasons.append(f"not all visible {drain:.0f} s after the producer stopped")
    if early and late and percentile(late, 0.95) > 1.5 * percentile(early, 0.95) + every:
        reasons.append("freshness grew through the step")
    count, failed, busy, rows, run_p50, load_p50, dbt_p50, checks_p50 = runs
    window = last - first + file_every
    return {
        "rate": rate,
        "files": len(files),
        "events": total,
        "produced_events_per_second": round(produced_rate),
        "holds": not reasons,
        "why_not": reasons,
        "drained": drained,
        "events_not_visible": sum(
            e["events"] for e, seen in zip(files, visible, strict=True) if seen is None
        ),
        "freshness_from_inbox_p50": _round(from_inbox and percentile(from_inbox, 0.5)),
        "freshness_from_inbox_p95": _round(from_inbox and percentile(from_inbox, 0.95)),
        "freshness_from_landing_p50": _round(from_landing and percentile(from_landing, 0.5)),
        "freshness_from_landing_p95": _round(from_landing and percentile(from_landing, 0.95)),
        "runs": count,
        "runs_failed": failed,
        "busy_share": round(float(busy) / window, 3),
        "rows_loaded_per_busy_second": round(float(rows) / float(busy)) if busy else None,
        "run_seconds_p50": _round(run_p50),
        "load_seconds_p50": _round(load_p50),
        "dbt_seconds_p50": _round(dbt_p50),
        "checks_seconds_p50": _round(checks_p50),
    }


def _round(value) -> float | None:
    return None if value is None or value == [] else round(float(value), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000, help="landed rows of history")
    parser.add_argument(
        "--rates", type=int, nargs="+", default=[5_000, 10_000, 20_000, 30_000, 40_000]
    )
    parser.add_argument("--seconds", type=float, default=60, help="the producer's time per rate")
    parser.add_argument("--every", type=int, default=2, help="the schedule's interval, seconds")
    parser.add_argument("--file-every", type=float, default=1.0, help="a file every N seconds")
    parser.add_argument("--poll", type=float, default=0.2, help="the poller's interval")
    parser.add_argument(
        "--drain", type=float, default=120, help="seconds to wait for the backlog after a step"
    )
    parser.add_argument("--all-rates", action="store_true", help="go on after a rate fails")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logs.configure(json_lines=False, level=logging.INFO if args.verbose else logging.WARNING)
    # A run that outlasts the interval makes APScheduler skip a start and say so; the
    # coalesced run follows at once, which is the point.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)

    from scheduler.loop import BatchScheduler, make_trigger
    from scheduler.pipeline import run_batch
    from scheduler.stages import warm_up

    with tempfile.TemporaryDirectory(prefix="countonce-stream-") as work_dir:
        work = Path(work_dir)
        settings, params = work_settings(work)
        settings.inbox.mkdir(parents=True, exist_ok=True)
        history = land_and_build(settings, params, args.size, DATABASE)
        settle_history(history)
        print(f"{args.size:,} landed rows: set-up {history.seconds}", flush=True)
        bench = history.conn_params
        warm_up()
        primed = run_batch(settings, bench, trigger="schedule")  # builds every model
        if primed.status != "succeeded":
            raise SystemExit(f"the first batch run {primed.status}: {primed.error}")
        since = datetime.now(UTC).replace(second=0, microsecond=0)
        poller = Poller(bench, since, args.poll)
        poller.start()
        stop = threading.Event()
        trigger, _ = make_trigger(args.every, None, None)
        scheduler = BatchScheduler(
            settings, bench, trigger, misfire_grace_seconds=args.every, stop=stop
        )
        loop = threading.Thread(target=scheduler.run_forever, name="scheduler", daemon=True)
        loop.start()
        steps = []
        try:
            for rate in sorted(args.rates):
                figures = step(
                    settings,
                    bench,
                    poller,
                    work,
                    rate,
                    args.seconds,
                    args.every,
                    args.file_every,
                    args.drain,
                )
                steps.append(figures)
                print(
                    f"  {rate:>7,} events/s: {'holds' if figures['holds'] else 'does not hold'}"
                    f" {figures['why_not'] or ''}",
                    flush=True,
                )
                if not figures["holds"] and not args.all_rates:
                    break
        finally:
            scheduler.wait_idle(600)  # the stream is measured: let the current run finish
            stop.set()
            scheduler.wait_idle(600)
            scheduler.scheduler.shutdown(wait=False)
            loop.join(30)
            poller.done.set()
            poller.join(5)
            if not args.keep:
                drop(history.params, DATABASE)
    print_steps(args, history, steps)
    held = [s["rate"] for s in steps if s["holds"]]
    record(
        "stream",
        {
            "landed_rows": args.size,
            "setup_seconds": history.seconds,
            "every_seconds": args.every,
            "file_every_seconds": args.file_every,
            "seconds_per_rate": args.seconds,
            "highest_rate_that_holds": max(held) if held else None,
            "steps": steps,
        },
    )


def print_steps(args, history, steps: list[dict]) -> None:
    print(
        f"\nsteady stream over {args.size:,} landed rows, a file every {args.file_every:g} s,"
        f" the scheduler every {args.every} s, {args.seconds:g} s per rate"
    )
    print(
        f"{'events/s':>9} {'produced':>9} {'holds':>6} {'inbox p50':>10} {'inbox p95':>10}"
        f" {'landed p50':>11} {'landed p95':>11} {'runs':>5} {'busy':>5} {'run p50':>8}"
        f" {'load':>6} {'dbt':>6} {'checks':>7} {'rows/busy s':>12}"
    )
    for s in steps:
        print(
            f"{s['rate']:>9,} {s['produced_events_per_second']:>9,}"
            f" {'yes' if s['holds'] else 'no':>6}"
            f" {_fmt(s['freshness_from_inbox_p50']):>10} {_fmt(s['freshness_from_inbox_p95']):>10}"
            f" {_fmt(s['freshness_from_landing_p50']):>11}"
            f" {_fmt(s['freshness_from_landing_p95']):>11} {s['runs']:>5}"
            f" {s['busy_share']:>5.0%} {_fmt(s['run_seconds_p50']):>8}"
            f" {_fmt(s['load_seconds_p50']):>6} {_fmt(s['dbt_seconds_p50']):>6}"
            f" {_fmt(s['checks_seconds_p50']):>7} {s['rows_loaded_per_busy_second'] or 0:>12,}"
        )
    held = [s for s in steps if s["holds"]]
    if held:
        best = max(held, key=lambda s: s["rate"])
        # The goal's freshness runs from landing (an event landed, to its minute's fact row
        # visible); from the inbox adds the wait for the next run's load.
        ok = (best["freshness_from_landing_p95"] or 0) <= 10 and best["rate"] >= 20_000
        print(
            f"highest rate that holds: {best['rate']:,} events/s, p95 freshness"
            f" {best['freshness_from_inbox_p95']} s from the inbox,"
            f" {best['freshness_from_landing_p95']} s from landing"
            f" (goal: >= 20,000 events/s with p95 from landing <= 10 s:"
            f" {'ok' if ok else 'not reached'})"
        )
    else:
        print("no rate held (goal: >= 20,000 events/s with p95 from landing <= 10 s: not reached)")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
