"""What the benchmarks of issue 21 (bench_peers, bench_scale, bench_stream) share, in one
place: a countonce database over a landed history, batch files from one producer, countonce's
warm batch run, and the producer's truth with the cents an engine's fact is wrong by.

- **History.** bench_models.prepare lands N rows with INSERT ... generate_series (a day old,
  5 events a second, every 50th row a retry of a key landed 7 rows before), in load batches
  of HISTORY_BATCH_ROWS and without producer sequence numbers, as the batch files have none
  (bench_models' stamped history loses 2% of its numbers: the 20k (1M) to 600k (30M) gaps
  that stay open for ever would make every run's overdue-gap warning list them, a cost of
  that broken stream, not of a batch; bench_models measures the producers' models).
  countonce's models are then built over it once (`dbt run`, selector pipeline, its scope
  recorded as processed, as bench_models does) and the database is settled (vacuumed,
  analyzed, landing and the deduplicated history read into the server's cache:
  bench_models.settle). Each step's seconds are kept: the set-up time is reported.
- **Batch files.** bench_pipeline.Stream writes each file (its events over the next span of
  event time, 5% of them re-sent in the same file); the producer here appends copies of the
  first 1% of the previous file's events (retries that land a batch later, so every engine
  meets keys it already holds). Files reach countonce's inbox by rename, whole.
- **countonce** runs warm, as `countonce schedule` does: scheduler.stages.warm_up() once, then
  scheduler.pipeline.run_batch per batch (load the inbox, dbt build, Great Expectations
  checks), after one untimed batch that builds every model and parses the project.
- **Truth.** What the producer sent, independent of every engine: the history's revenue per
  minute from its first landed copies (the generator lands each original before its retry),
  plus, per batch file in the order it was sent, the first copy of each key, added up in
  Python with Decimal. "Cents wrong" is the sum, over every (minute, currency) of the truth or
  of an engine's fact, of the absolute differences of gross paid and refunded amounts.

The server is the configured one (the embedded PostgreSQL under .countonce/ unless PG* or
COUNTONCE_DATABASE_URL say otherwise), as for bench_models; dbt's targets, the inbox and Data
Docs go to a temporary directory.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from psycopg import sql

from bench.bench_models import LOAD_INTO_CACHE, dbt_run, prepare, server_params, settle
from bench.bench_pipeline import Stream
from countonce import db
from countonce.settings import Settings, load_settings

RESEND_FRACTION = 0.01
# The history's load batches are the size of the timed ones, as a history built by such
# batches is. PostgreSQL estimates a run's rows of a table by the number of distinct load
# batches in it: with 100k-row batches (10 per million rows), a check's lookup of the run's
# batches is planned as a scan of the whole table (see the README, Performance).
HISTORY_BATCH_ROWS = 10_000
TRUTH = ("bench_truth", "revenue_1m")
COUNTONCE_FACT = ("analytics", "fact_revenue_1m")

TRUTH_FROM_HISTORY = """
create schema if not exists bench_truth;
drop table if exists bench_truth.revenue_1m;
create table bench_truth.revenue_1m (
    minute timestamptz not null,
    currency text not null,
    gross_paid_amount numeric not null,
    refunded_amount numeric not null,
    primary key (minute, currency)
);
insert into bench_truth.revenue_1m
select
    event_minute,
    currency,
    coalesce(sum(amount) filter (where event_type = 'paid'), 0),
    coalesce(sum(amount) filter (where event_type = 'refunded'), 0)
from (
    select distinct on (record ->> 'order_id', record ->> 'event_id')
        event_minute,
        record ->> 'event_type' as event_type,
        cast(record ->> 'amount' as numeric) as amount,
        record ->> 'currency' as currency
    from raw.order_events
    order by record ->> 'order_id', record ->> 'event_id', landing_seq
) as first_copies
where event_type in ('paid', 'refunded')
group by event_minute, currency
"""

ADD_TO_TRUTH = """
insert into bench_truth.revenue_1m as truth
    (minute, currency, gross_paid_amount, refunded_amount)
values (%s, %s, %s, %s)
on conflict (minute, currency) do update set
    gross_paid_amount = truth.gross_paid_amount + excluded.gross_paid_amount,
    refunded_amount = truth.refunded_amount + excluded.refunded_amount
"""

CENTS_WRONG = """
select
    coalesce(sum(
        abs(coalesce(fact.gross_paid_amount, 0) - coalesce(truth.gross_paid_amount, 0))
        + abs(coalesce(fact.refunded_amount, 0) - coalesce(truth.refunded_amount, 0))
    ), 0) * 100,
    count(*) filter (
        where coalesce(fact.gross_paid_amount, 0) <> coalesce(truth.gross_paid_amount, 0)
        or coalesce(fact.refunded_amount, 0) <> coalesce(truth.refunded_amount, 0)
    )
from {fact} as fact
full join bench_truth.revenue_1m as truth using (minute, currency)
"""


def work_settings(work: Path) -> tuple[Settings, dict[str, str]]:
    """The configured server's connection parameters, and settings whose dbt targets, inbox
    and Data Docs are under `work` (the server stays where it is configured)."""
    settings = load_settings()
    params = db.connection_params(settings)
    home = work / "countonce"
    return (
        dataclasses.replace(settings, home=home, inbox=home / "inbox", spark_dir=home / "spark"),
        params,
    )


@dataclass
class History:
    """A bench database with `size` landed rows and countonce's models built over them."""

    params: dict[str, str]  # with bench_models' "_" keys (history start, now)
    size: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def conn_params(self) -> dict[str, str]:
        return server_params(self.params)

    def timed(self, step: str, started: float) -> None:
        self.seconds[step] = round(time.monotonic() - started, 1)


def land_and_build(settings: Settings, params: dict[str, str], size: int, name: str) -> History:
    """Land `size` rows into database `name` (dropped first) and build countonce over them."""
    started = time.monotonic()
    history = History(
        prepare(params, size, name, stamped=False, batch_rows=HISTORY_BATCH_ROWS), size
    )
    history.timed("land history", started)
    started = time.monotonic()
    dbt_run(settings, history.params, "--quiet", "--selector", "pipeline")
    history.timed("countonce first build", started)
    return history


def settle_history(history: History, cache_queries: tuple[str, ...] = ()) -> None:
    """bench_models.settle, with the other engines' tables read into the cache too."""
    started = time.monotonic()
    settle(history.params, LOAD_INTO_CACHE + cache_queries)
    history.timed("vacuum, analyze, cache", started)


def drop(params: dict[str, str], name: str) -> None:
    server = {k: v for k, v in server_params(params).items() if k != "dbname"}
    db.drop_database(server, name)


class Producer:
    """Batch files of one producer, in the order it sends them (see the module docstring)."""

    def __init__(self, directory: Path, spans: int) -> None:
        self.directory = directory
        self.stream = Stream(batches=spans)
        self.resend: list[bytes] = []

    def write(self, name: str, events: int) -> Path:
        path = self.stream.write_batch(self.directory, name, events)
        with path.open("rb") as written:
            first = [written.readline() for _ in range(max(1, int(events * RESEND_FRACTION)))]
        if self.resend:
            with path.open("ab") as out:
                out.writelines(self.resend)
        self.resend = first
        return path


def deliver(path: Path, inbox: Path, name: str | None = None) -> Path:
    """Put a copy of `path` into the inbox whole: written under a hidden name, then renamed."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / (name or path.name)
    partial = inbox / f".{target.name}.partial"
    shutil.copyfile(path, partial)
    partial.replace(target)
    return target


def utc_minute(event_time: str) -> datetime:
    return datetime.fromisoformat(event_time).astimezone(UTC).replace(second=0, microsecond=0)


class Truth:
    """The producer's revenue per (minute, currency), in bench_truth.revenue_1m."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = server_params(params)
        self.seen: set[tuple[str, str]] = set()

    def seed_from_history(self) -> None:
        with db.connect(self.params, autocommit=True) as conn:
            conn.execute("set work_mem = '256MB'")
            conn.execute(TRUTH_FROM_HISTORY)

    def add(self, path: Path) -> int:
        """The events of a file the producer sent: the first copy of each key counts. Returns
        how many keys were new."""
        sums: dict[tuple[datetime, str], list[Decimal]] = {}
        new = 0
        with path.open("rb") as lines:
            for line in lines:
                event = json.loads(line, parse_float=Decimal)
                key = (event["order_id"], event["event_id"])
                if key in self.seen:
                    continue
                self.seen.add(key)
                new += 1
                kind = event["event_type"]
                if kind not in ("paid", "refunded"):
                    continue
                row = sums.setdefault(
                    (utc_minute(event["event_time"]), event["currency"]),
                    [Decimal(0), Decimal(0)],
                )
                row[0 if kind == "paid" else 1] += Decimal(str(event["amount"]))
        with db.connect(self.params, autocommit=True) as conn, conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(
                    ADD_TO_TRUTH, [(*key, paid, refunded) for key, (paid, refunded) in sums.items()]
                )
        return new

    def cents_wrong(self, fact: tuple[str, str]) -> tuple[int, int]:
        """(cents wrong, (minute, currency) rows wrong) of the fact relation (schema, table)."""
        with db.connect(self.params, autocommit=True) as conn:
            cents, rows = conn.execute(
                sql.SQL(CENTS_WRONG).format(fact=sql.Identifier(*fact))
            ).fetchone()
        return int(cents), int(rows)


@dataclass
class Timing:
    """One batch through one engine: end to end, and where its time went."""

    wall: float
    load: float
    transform: float
    checks: float = 0.0
    detail: dict[str, float] = field(default_factory=dict)


class Countonce:
    """countonce end to end, warm: run_batch over its inbox after scheduler.stages.warm_up()."""

    name = "countonce"
    fact = COUNTONCE_FACT

    def __init__(self, settings: Settings, history: History) -> None:
        from scheduler.stages import warm_up

        self.settings = settings
        self.params = history.conn_params
        shutil.rmtree(settings.inbox, ignore_errors=True)  # an earlier history's files
        warm_up()

    def run(self, path: Path | None = None, name: str | None = None) -> Timing:
        """A batch run, after putting `path` (if any) into the inbox, under `name` if given."""
        from scheduler.pipeline import run_batch

        if path is not None:
            deliver(path, self.settings.inbox, name)
        started = time.perf_counter()
        record = run_batch(self.settings, self.params, trigger="schedule")
        wall = time.perf_counter() - started
        if record.status != "succeeded":
            raise SystemExit(f"countonce batch run {record.status}: {record.error}")
        return Timing(
            wall=wall,
            load=float(record.load_seconds or 0),
            transform=float(record.dbt_seconds or 0),
            checks=float(record.checks_seconds or 0),
            detail={"rows_loaded": record.rows_loaded or 0},
        )


def median(values) -> float:
    return statistics.median(list(values))


def median_timing(timings: list[Timing]) -> dict[str, float]:
    """Each figure's median over the repeats (the wall's median batch need not be the load's)."""
    out = {
        "wall_seconds": median(t.wall for t in timings),
        "load_seconds": median(t.load for t in timings),
        "transform_seconds": median(t.transform for t in timings),
        "checks_seconds": median(t.checks for t in timings),
    }
    for key in timings[0].detail:
        out[key] = median(t.detail[key] for t in timings)
    return {k: round(v, 3) for k, v in out.items()}
