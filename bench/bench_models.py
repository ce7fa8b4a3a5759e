"""Benchmark of the dbt models: a 10k-event incremental batch over N landed rows, and the
naive full-refresh model over the same landing, side by side.

For each size it builds a fresh database `countonce_bench` on the configured server (the
embedded one unless PG* or COUNTONCE_DATABASE_URL say otherwise), lands N rows with one
INSERT ... generate_series per 100k-row load batch (history landed a day ago, at a constant
5 events per second so minutes are equally dense at every size; four producers stamp them
with sequence numbers, so the producer models work too), builds once, vacuums and
reads landing and the deduplicated history into the server's cache, then, --repeat times,
lands a 10k-event batch (new events in the next minutes, 1% late events, 1% duplicates of
old keys), times the same step written by hand in SQL (rolled back), and times `dbt run` of
the pipeline on one thread from dbt's run results: the models as the scheduler builds them
per batch (selector per_batch; the views are created by the first build), each run's scope
then recorded as processed, as a batch run does after its checks. Medians are reported.
Then it times the naive model (ROW_NUMBER over all of landing, a table) on the same data.

    .venv/bin/python -m bench.bench_models --sizes 100000 1000000 10000000
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.results import record
from countonce import db, logs, runtime
from countonce.dbt import DbtOutcome, invoke
from countonce.migrate import migrate
from countonce.settings import Settings, load_settings
from scheduler.scope import record_processed

log = logging.getLogger(__name__)

BENCH_DATABASE = "countonce_bench"
LANDED_DATABASE = "countonce_bench_landed"
BATCH_ROWS = 100_000
CORE_MODELS = ("int_order_events_deduplicated", "fact_revenue_1m")
PRODUCER_MODELS = ("int_producer_sequences", "int_producer_gaps")
LOAD_INTO_CACHE = (
    "select max(loaded_at) from raw.order_events where event_minute >= '-infinity'",
    "select max(loaded_at) from intermediate.int_order_events_deduplicated"
    " where event_minute >= '-infinity'",
    "select count(*) from intermediate.int_order_events_deduplicated where order_id >= ''",
)

LAND = """
insert into raw.order_events
    (load_batch_id, source_file, source_line, source_offset, loaded_at, event_minute, record)
select
    %(batch)s, %(source_file)s, n, n * 120, %(loaded_at)s,
    date_trunc('minute', %(history_start)s::timestamptz + make_interval(secs => t)),
    jsonb_build_object(
        'event_id', 'e-' || k,
        'order_id', 'o-' || (k / 3),
        'event_type', case when k %% 20 = 0 then 'refunded' else 'paid' end,
        'amount', to_char((k %% 100000) / 100.0, 'FM99990.00'),
        'currency', (array['USD', 'EUR', 'GBP'])[1 + k %% 3],
        'producer_id', 'p-' || (k %% 4),
        'sequence', k / 4,
        'event_time', to_char(
            (%(history_start)s::timestamptz + make_interval(secs => t)) at time zone 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'
        )
    ) - %(unstamped)s::text[]
from generate_series(%(first)s::bigint, %(last)s::bigint) as n
cross join lateral (select %(key_sql)s as k, %(time_sql)s as t) as keyed
"""

# The incremental step of the dedup and fact models written by hand, for comparison: the
# batch's valid events (the staging view validates them), the first copy of each key, looked
# up in the keyed history, inserted or superseding; then every touched minute recomputed
# from the history and upserted. No run scope, rejects or duplicates.
HANDWRITTEN_STEP = (
    """
create temporary table kept on commit drop as
with first_copies as (
    select distinct on (order_id, event_id)
        order_id, event_id, event_type, event_at, event_minute, amount, currency,
        customer_id, landing_seq, load_batch_id, source_file, loaded_at
    from staging.stg_shopflow__order_events
    where load_batch_id = %(batch)s and reject_reason is null
    order by order_id, event_id, landing_seq
)
select
    first_copies.*,
    history.landing_seq as superseded_landing_seq,
    history.event_minute as superseded_event_minute
from first_copies
left join intermediate.int_order_events_deduplicated as history using (order_id, event_id)
where history.landing_seq is null or history.landing_seq > first_copies.landing_seq
""",
    """
insert into intermediate.int_order_events_deduplicated
select *, now(), 'handwritten' from kept
on conflict (order_id, event_id) do update set
    event_type = excluded.event_type, event_at = excluded.event_at,
    event_minute = excluded.event_minute, amount = excluded.amount,
    currency = excluded.currency, customer_id = excluded.customer_id,
    landing_seq = excluded.landing_seq, load_batch_id = excluded.load_batch_id,
    source_file = excluded.source_file, loaded_at = excluded.loaded_at,
    superseded_landing_seq = excluded.superseded_landing_seq,
    superseded_event_minute = excluded.superseded_event_minute,
    deduplicated_at = excluded.deduplicated_at, invocation_id = excluded.invocation_id
""",
    """
insert into analytics.fact_revenue_1m (
    minute, currency, gross_paid_amount, refunded_amount, net_amount, paid_event_count,
    refund_event_count, recomputed_at, invocation_id, minute_date
)
select
    event_minute,
    currency,
    coalesce(sum(amount) filter (where event_type = 'paid'), 0),
    coalesce(sum(amount) filter (where event_type = 'refunded'), 0),
    coalesce(sum(amount) filter (where event_type = 'paid'), 0)
    - coalesce(sum(amount) filter (where event_type = 'refunded'), 0),
    count(*) filter (where event_type = 'paid'),
    count(*) filter (where event_type = 'refunded'),
    now(),
    'handwritten',
    (event_minute at time zone 'UTC')::date
from intermediate.int_order_events_deduplicated
where
    event_type in ('paid', 'refunded')
    and event_minute = any(array(
        select event_minute from kept
        union
        select superseded_event_minute from kept where superseded_event_minute is not null
    ))
group by event_minute, currency
on conflict (minute, currency) do update set
    gross_paid_amount = excluded.gross_paid_amount,
    refunded_amount = excluded.refunded_amount, net_amount = excluded.net_amount,
    paid_event_count = excluded.paid_event_count,
    refund_event_count = excluded.refund_event_count,
    recomputed_at = excluded.recomputed_at, invocation_id = excluded.invocation_id
""",
)

BATCH = """
insert into raw.load_batches
    (load_batch_id, source_file, first_line, last_line, first_offset, end_offset,
     lines_read, rows_landed, rows_rejected, started_at, finished_at)
values (%(batch)s, %(source_file)s, %(first)s, %(last)s, %(first)s::bigint * 120,
        (%(last)s::bigint + 1) * 120, %(rows)s, %(rows)s, 0, %(loaded_at)s, %(loaded_at)s)
"""


def server_params(bench: dict[str, str]) -> dict[str, str]:
    """Connection parameters without the bench's own keys (those starting with "_")."""
    return {k: v for k, v in bench.items() if not k.startswith("_")}


def land(
    conn,
    *,
    source_file: str,
    first: int,
    last: int,
    loaded_at,
    key_sql: str,
    time_sql: str,
    history_start,
    stamped: bool = True,
) -> int:
    with conn.transaction():
        batch = conn.execute("select nextval('raw.load_batch_id_seq')").fetchone()[0]
        values = {
            "batch": batch,
            "source_file": source_file,
            "first": first,
            "last": last,
            "rows": last - first + 1,
            "loaded_at": loaded_at,
            "history_start": history_start,
            "unstamped": [] if stamped else ["producer_id", "sequence"],
        }
        conn.execute(LAND.replace("%(key_sql)s", key_sql).replace("%(time_sql)s", time_sql), values)
        conn.execute(BATCH, values)
    return batch


def prepare(
    params: dict[str, str],
    size: int,
    name: str = LANDED_DATABASE,
    stamped: bool = True,
    batch_rows: int = BATCH_ROWS,
) -> dict[str, str]:
    """Land the history into database `name` (LANDED_DATABASE: the template of each project's
    bench database; the benchmarks of bench/harness.py build in theirs directly), in load
    batches of `batch_rows`. `stamped`: with the four producers' sequence numbers, 2% of
    them lost (the retries' keys)."""
    db.drop_database(params, name)
    db.create_database(params, name)
    bench = {**params, "dbname": name}
    with db.connect(bench, autocommit=True) as conn:
        migrate(conn)
        now = conn.execute("select now()").fetchone()[0]
        history_seconds = size / 5
        history_start = conn.execute(
            "select now() - interval '1 day' - make_interval(secs => %s) - interval '1 hour'",
            (history_seconds,),
        ).fetchone()[0]
        day_ago = conn.execute("select now() - interval '1 day'").fetchone()[0]
        started = time.monotonic()
        for first in range(1, size + 1, batch_rows):
            last = min(first + batch_rows - 1, size)
            # Every 50th row repeats a key landed 7 rows earlier: retries in the history.
            land(
                conn,
                source_file="history.jsonl",
                first=first,
                last=last,
                loaded_at=day_ago,
                key_sql="case when n %% 50 = 0 then n - 7 else n end",
                time_sql="n / 5.0",
                history_start=history_start,
                stamped=stamped,
            )
        conn.execute("vacuum analyze raw.order_events")
        log.info("landed history", extra={"rows": size, "seconds": time.monotonic() - started})
        bench["_history_start"] = history_start.isoformat()
        bench["_now"] = now.isoformat()
    return bench


def land_batch(bench: dict[str, str], size: int, batch_size: int) -> int:
    """batch_size new events: most in the last minutes, 1% late (anywhere in history), 1%
    copies of keys already landed."""
    params = server_params(bench)
    with db.connect(params, autocommit=True) as conn:
        return land(
            conn,
            source_file="batch.jsonl",
            first=size + 1,
            last=size + batch_size,
            loaded_at=conn.execute("select now()").fetchone()[0],
            key_sql=f"case when n %% 100 = 1 then n - {size} else n end",
            time_sql=(
                f"case when n %% 100 = 2 then (n * 7919) %% {size} / 5.0"
                f" else {size} / 5.0 + 3000 + (n - {size}) * 600.0 / {batch_size} end"
            ),
            history_start=bench["_history_start"],
        )


def handwritten_seconds(bench: dict[str, str], batch: int) -> float:
    """Time HANDWRITTEN_STEP on a landed batch, then roll it back for the models to process."""
    params = server_params(bench)
    with db.connect(params) as conn:
        started = time.monotonic()
        for statement in HANDWRITTEN_STEP:
            conn.execute(statement, {"batch": batch})
        seconds = time.monotonic() - started
        conn.rollback()
    return seconds


def model_seconds(
    outcome: DbtOutcome, names: tuple[str, ...] | None = None, resource_type: str = "model"
) -> float:
    results = getattr(outcome.result.result, "results", None) or []
    return sum(
        row.execution_time
        for row in results
        if row.node.resource_type == resource_type and (names is None or row.node.name in names)
    )


def log_node_times(label: str, outcome: DbtOutcome) -> None:
    results = getattr(outcome.result.result, "results", None) or []
    for row in sorted(results, key=lambda row: -row.execution_time):
        log.info(label, extra={"node": row.node.name, "seconds": round(row.execution_time, 3)})


def dbt_run(settings: Settings, params: dict[str, str], *args: str, **extra_vars) -> DbtOutcome:
    """`dbt run`, then its scope recorded as processed, as a batch run does after its checks."""
    from dbt_common.invocation import get_invocation_id

    clean = server_params(params)
    runtime.after_parse()  # as the scheduler does: no full collection of older runs
    outcome = invoke(settings, clean, ["run", *args], extra_vars=extra_vars or None)
    if not outcome.success:
        raise SystemExit(f"dbt run {' '.join(args)} failed: {outcome.failures}")
    with db.connect(clean, autocommit=True) as conn:
        record_processed(conn, str(uuid.uuid4()), get_invocation_id())
    return outcome


def warm_build(settings: Settings, params: dict[str, str]) -> tuple[DbtOutcome, float]:
    """`dbt build` of the pipeline with a manifest parsed beforehand; its wall time."""
    clean = server_params(params)
    parsed = invoke(settings, clean, ["parse", "--quiet"])
    runtime.after_parse()
    started = time.monotonic()
    outcome = invoke(
        settings, clean, ["build", "--quiet", "--selector", "per_batch"], parsed.result.result
    )
    seconds = time.monotonic() - started
    if not outcome.success:
        raise SystemExit(f"dbt build failed: {outcome.failures}")
    return outcome, seconds


def settle(bench: dict[str, str], queries: tuple[str, ...] = LOAD_INTO_CACHE) -> None:
    """Vacuum and analyze what the first build wrote, as autovacuum has long done for a
    history built before, and read landing and the deduplicated history into the server's
    cache, where a server that has run for a while holds them (the load and the build went
    through a small ring of buffers). The batches are timed in that steady state, not while
    autovacuum works through the first build's rows or while each late event's old minute
    is first read from disk."""
    params = server_params(bench)
    with db.connect(params, autocommit=True) as conn:
        conn.execute("vacuum analyze")
        conn.execute("set enable_seqscan = off")  # sequential scans bypass the cache
        conn.execute("set enable_bitmapscan = off")
        for query in queries:
            conn.execute(query)
        conn.execute("checkpoint")  # the vacuum's writes, not the timed batches'


def bench_project(
    settings: Settings, landed: dict[str, str], size: int, batch_size: int, repeat: int
) -> dict:
    server = {k: v for k, v in server_params(landed).items() if k != "dbname"}
    db.drop_database(server, BENCH_DATABASE)
    db.create_database(server, BENCH_DATABASE, template=LANDED_DATABASE)
    bench = {**landed, "dbname": BENCH_DATABASE}
    dbt_run(settings, bench, "--selector", "pipeline")
    settle(bench)
    runs, handwritten = [], []
    for batch in range(repeat):
        landed_batch = land_batch(bench, size + batch * batch_size, batch_size)
        handwritten.append(handwritten_seconds(bench, landed_batch))
        # One thread: each model's time is its own, not shared with a model run beside it on
        # the two cores (the build below runs as the scheduler does, with the profile's
        # threads).
        runs.append(dbt_run(settings, bench, "--selector", "per_batch", "--threads", "1"))
        log_node_times("run node time", runs[-1])
    land_batch(bench, size + repeat * batch_size, batch_size)
    build, build_seconds = warm_build(settings, bench)
    log_node_times("build node time", build)
    naive = dbt_run(settings, bench, "--selector", "bench_naive", bench_naive=True)
    return {
        "project": settings.dbt_project_dir.parent.name,
        "landed_rows": size,
        "batch_events": batch_size,
        "core_seconds": statistics.median(model_seconds(run, CORE_MODELS) for run in runs),
        "producer_seconds": statistics.median(model_seconds(run, PRODUCER_MODELS) for run in runs),
        "all_models_seconds": statistics.median(model_seconds(run) for run in runs),
        "handwritten_seconds": statistics.median(handwritten),
        "build_wall_seconds": build_seconds,
        "build_models_seconds": model_seconds(build),
        "build_tests_seconds": model_seconds(build, resource_type="test"),
        "naive_seconds": model_seconds(naive),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed batches per size (the median is reported)"
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        action="append",
        help="dbt project to measure (repeat to compare; default: the configured one)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the last bench database")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each model's time")
    args = parser.parse_args()
    logs.configure(json_lines=False, level=logging.INFO if args.verbose else logging.WARNING)
    settings = load_settings()
    params = db.connection_params(settings)
    with tempfile.TemporaryDirectory() as work:
        projects = [
            dataclasses.replace(settings, home=Path(work), dbt_project_dir=path.resolve())
            for path in (args.project_dir or [settings.dbt_project_dir])
        ]
        rows = []
        for size in args.sizes:
            landed = prepare(params, size)
            rows += [
                bench_project(project, landed, size, args.batch, args.repeat)
                for project in projects
            ]
    db.drop_database(params, LANDED_DATABASE)
    if not args.keep:
        db.drop_database(params, BENCH_DATABASE)
    print(
        f"{'project':>12} {'landed rows':>12} {'batch':>7} {'dedup+fact s':>13}"
        f" {'by hand s':>10} {'ratio':>6} {'producers s':>12} {'all models s':>13}"
        f" {'build wall s':>13} {'(models':>8}"
        f" {'tests)':>7} {'naive s':>9} {'naive/all':>10}"
    )
    for row in rows:
        ratio = row["naive_seconds"] / row["all_models_seconds"]
        print(
            f"{row['project'][-12:]:>12} {row['landed_rows']:>12,} {row['batch_events']:>7,}"
            f" {row['core_seconds']:>13.3f} {row['handwritten_seconds']:>10.3f}"
            f" {row['core_seconds'] / row['handwritten_seconds']:>5.1f}x"
            f" {row['producer_seconds']:>12.3f} {row['all_models_seconds']:>13.3f}"
            f" {row['build_wall_seconds']:>13.3f} {row['build_models_seconds']:>8.3f}"
            f" {row['build_tests_seconds']:>7.3f}"
            f" {row['naive_seconds']:>9.3f} {ratio:>9.1f}x"
        )
    for project in {row["project"] for row in rows}:
        mine = [row for row in rows if row["project"] == project]
        if len(mine) > 1:
            growth = mine[-1]["all_models_seconds"] / mine[-2]["all_models_seconds"]
            core = mine[-1]["core_seconds"] / mine[-2]["core_seconds"]
            producers = mine[-1]["producer_seconds"] / max(mine[-2]["producer_seconds"], 1e-9)
            print(
                f"{project}: incremental time {mine[-1]['landed_rows']:,} vs"
                f" {mine[-2]['landed_rows']:,} rows: {growth:.2f}x (dedup+fact {core:.2f}x,"
                f" producers {producers:.2f}x)"
            )
    record("models", rows)


if __name__ == "__main__":
    main()
