"""Per-run check cost against history size: a batch of new events checked at two history sizes.

For each history size: a fresh database gets that many landed rows (5% duplicates), dbt
builds them and the history is recorded as checked (as earlier passing runs would have left
it: a first check over all of a 10M-row history costs minutes, once, and is not what is
measured here); then, several times, a batch of new events lands,
dbt builds and `run_checks` checks what that run touched. The figure is the median time of
those per-run checks; the target is at most 1.3x between the largest and the smallest history.

    .venv/bin/python -m bench.bench_checks                             # 1M vs 10M, 10k batch
    .venv/bin/python -m bench.bench_checks --history 20000,200000 --batch 500   # tiny
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench import results
from countonce import db, dbt
from countonce.migrate import migrate
from countonce.settings import load_settings
from expectations.checks import run_checks
from scheduler.scope import record_processed

CHUNK_ROWS = 100_000

# Events spread over minutes from a fixed start; every 20th row repeats its predecessor's key.
LAND_SQL = """
with batch as (
    insert into raw.load_batches (load_batch_id, source_file, first_line, last_line,
        first_offset, end_offset, lines_read, rows_landed, rows_rejected, started_at)
    values (nextval('raw.load_batch_id_seq'), %(file)s, 1, %(n)s, 0, %(n)s, %(n)s, %(n)s, 0,
        now())
    returning load_batch_id
)
insert into raw.order_events
    (load_batch_id, source_file, source_line, source_offset, event_minute, record)
select batch.load_batch_id, %(file)s, g.i, g.i,
    date_trunc('minute', timestamptz '2026-01-01 00:00:00+00'
        + make_interval(secs => (%(first)s + g.i) * 0.6)),
    jsonb_build_object(
        'event_id', 'e-' || (%(first)s + g.i - (g.i %% 20 = 0)::int),
        'order_id', 'o-' || ((%(first)s + g.i - (g.i %% 20 = 0)::int) / 3),
        'event_type', case when g.i %% 7 = 0 then 'refunded' else 'paid' end,
        'amount', ((g.i %% 5000) / 100.0)::numeric(10, 2)::text,
        'currency', case when g.i %% 3 = 0 then 'EUR' else 'USD' end,
        'event_time', to_char(
            (timestamptz '2026-01-01 00:00:00+00'
            + make_interval(secs => (%(first)s + g.i) * 0.6)) at time zone 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
from batch cross join generate_series(1, %(n)s) as g (i)
"""


def land(params: dict[str, str], first: int, rows: int) -> None:
    with db.connect(params, autocommit=True) as conn:
        migrate(conn)
        done = 0
        while done < rows:
            n = min(CHUNK_ROWS, rows - done)
            conn.execute(LAND_SQL, {"file": f"bench-{first + done}", "n": n, "first": first + done})
            done += n
        conn.execute("analyze raw.order_events")


def build(settings, params: dict[str, str]) -> None:
    """The models and views the checks read (dbt's own tests are not what is measured)."""
    outcome = dbt.invoke(settings, params, ["run"])
    if not outcome.success:
        raise SystemExit("dbt run failed: " + "; ".join(outcome.failures))


def record(params: dict[str, str]) -> None:
    """The last build's scope recorded as processed, as a batch run does after its checks."""
    from dbt_common.invocation import get_invocation_id

    with db.connect(params, autocommit=True) as conn:
        record_processed(conn, str(uuid.uuid4()), get_invocation_id())


def settle(params: dict[str, str]) -> None:
    # A long-running system has vacuumed its history; without this, autovacuum works through
    # the freshly loaded tables during the first measured runs, the larger history longest.
    with db.connect(params, autocommit=True) as conn:
        conn.execute("vacuum (analyze)")


def measure(server_params: dict[str, str], history: int, batch: int, repeats: int) -> dict:
    name = f"bench_checks_{uuid.uuid4().hex[:8]}"
    db.create_database(server_params, name)
    params = {**server_params, "dbname": name}
    home = Path(tempfile.mkdtemp(prefix="bench_checks_"))
    settings = load_settings({"COUNTONCE_HOME": str(home)})
    try:
        started = time.perf_counter()
        land(params, 0, history)
        build(settings, params)
        record(params)
        settle(params)
        setup = time.perf_counter() - started
        timings = []
        for i in range(repeats):
            land(params, history + i * batch, batch)
            build(settings, params)
            report = run_checks(settings, params)
            if not report.success:
                raise SystemExit(f"checks failed: {report.failed()}")
            record(params)
            timings.append(report.seconds)
        return {
            "history_rows": history,
            "batch_rows": batch,
            "setup_seconds": round(setup, 1),
            "per_run_check_seconds": timings,
            "median_seconds": statistics.median(timings),
            "scope_minutes": report.scope_minutes,
            "scope_batches": report.scope_batches,
        }
    finally:
        db.drop_database(server_params, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", default="1000000,10000000", help="comma-separated sizes")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    server_params = {**db.connection_params(load_settings()), "dbname": "postgres"}
    sizes = [int(size) for size in args.history.split(",")]
    # A first, discarded run pays the one-off Great Expectations import and context build.
    measure(server_params, args.batch, args.batch, 1)
    figures = [measure(server_params, size, args.batch, args.repeats) for size in sizes]
    for f in figures:
        print(
            f"history {f['history_rows']:>11,} rows, batch {f['batch_rows']:,}: per-run check "
            f"median {f['median_seconds']:.3f} s {f['per_run_check_seconds']} "
            f"(scope {f['scope_minutes']} minutes, {f['scope_batches']} batches)"
        )
    ratio = figures[-1]["median_seconds"] / figures[0]["median_seconds"]
    print(f"ratio largest/smallest history: {ratio:.2f} (target <= 1.3)")
    results.record("checks", {"runs": figures, "ratio_largest_to_smallest": round(ratio, 3)})


if __name__ == "__main__":
    main()
