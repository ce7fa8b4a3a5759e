"""The dlt peer of bench/bench_peers.py: what a team using dlt would run instead of countonce.

- **Load.** One dlt pipeline, kept in this process (warm, as countonce's scheduler is), to
  the postgres destination: a resource reading the same JSON Lines file the other engines
  get, `write_disposition="merge"` with `primary_key=("order_id", "event_id")`, dlt's
  default merge strategy (delete-insert): dlt deduplicates the load by the key in its staging
  dataset, deletes the destination's rows with those keys and inserts the load's. So a copy
  landing in a later load replaces the kept one: the latest wins.
- **Exact money.** Lines are parsed with json's parse_float=Decimal, and the column hints
  type `amount` as decimal(14, 2) (dlt would otherwise infer a double from a number) and
  `event_time` as a timestamp with time zone; dlt coerces the strings to them.
- **Loader file format.** csv (COPY), the faster of the two postgres formats that need no
  extra driver: a 100k-event load took 6.3 s with csv against 8.6 s with the default
  insert_values on the 2-core machine (shared with other work at the time; the normalize
  step, about 4.5 s of either, is the same for both). --dlt-file-format picks it.
- **Indexes.** dlt's postgres destination creates only single-column UNIQUE constraints (on
  `_dlt_id`); a data engineer adds what the merge and the fact need: a unique index on the
  primary key (the merge's delete looks keys up in it; for a load of 100k keys PostgreSQL
  prefers to scan the table and hash the load), one on `_dlt_load_id` (the fact finds the
  load's rows by it) and one on `event_time` (the fact recomputes minutes by range).
- **Fact.** dlt loads; it does not model. After each load, one transaction recomputes the
  minutes the load's rows fall in from dlt's table and replaces them in
  `peer_dlt.fact_revenue_1m`, as a data engineer would write it in SQL after the load. A
  replaced copy's old minute is not recomputed (nothing records it).
- **Set-up.** dlt creates its tables from one load of one `created` event (no revenue);
  then the history's first landed copies are inserted by SQL from countonce's landing table,
  with `_dlt_load_id` 'history' and a unique `_dlt_id`, rather than loading millions of rows
  through dlt; the indexes are built and the fact seeded after.
"""

from __future__ import annotations

import json
import logging
import os
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from bench.harness import Timing
from countonce import db

DATASET = "peer_dlt"
TABLE = "order_events"
FACT = (DATASET, "fact_revenue_1m")
CHUNK = 10_000
COLUMNS = {
    "order_id": {"data_type": "text", "nullable": False},
    "event_id": {"data_type": "text", "nullable": False},
    "event_type": {"data_type": "text"},
    "event_time": {"data_type": "timestamp", "timezone": True},
    "amount": {"data_type": "decimal", "precision": 14, "scale": 2},
    "currency": {"data_type": "text"},
    "customer_id": {"data_type": "text"},
}

SEED_FROM_LANDING = """
insert into peer_dlt.order_events
    (order_id, event_id, event_type, event_time, amount, currency, customer_id,
     _dlt_load_id, _dlt_id)
select distinct on (record ->> 'order_id', record ->> 'event_id')
    record ->> 'order_id',
    record ->> 'event_id',
    record ->> 'event_type',
    cast(record ->> 'event_time' as timestamptz),
    cast(record ->> 'amount' as numeric(14, 2)),
    record ->> 'currency',
    record ->> 'customer_id',
    'history',
    'h' || landing_seq
from raw.order_events
order by record ->> 'order_id', record ->> 'event_id', landing_seq
"""

INDEXES = (
    "create unique index order_events_key on peer_dlt.order_events (order_id, event_id)",
    "create index order_events_load_id on peer_dlt.order_events (_dlt_load_id)",
    "create index order_events_event_time on peer_dlt.order_events (event_time)",
)

CREATE_FACT = """
create table peer_dlt.fact_revenue_1m (
    minute timestamptz not null,
    currency text not null,
    gross_paid_amount numeric not null,
    refunded_amount numeric not null,
    net_amount numeric not null,
    paid_event_count bigint not null,
    refund_event_count bigint not null,
    primary key (minute, currency)
)
"""

# The minutes' revenue, from dlt's table: {where} picks the events.
REVENUE = """
select
    minute,
    events.currency,
    coalesce(sum(events.amount) filter (where events.event_type = 'paid'), 0),
    coalesce(sum(events.amount) filter (where events.event_type = 'refunded'), 0),
    coalesce(sum(events.amount) filter (where events.event_type = 'paid'), 0)
    - coalesce(sum(events.amount) filter (where events.event_type = 'refunded'), 0),
    count(*) filter (where events.event_type = 'paid'),
    count(*) filter (where events.event_type = 'refunded')
from {source}
where events.event_type in ('paid', 'refunded')
group by minute, events.currency
"""

SEED_FACT = "insert into peer_dlt.fact_revenue_1m " + REVENUE.format(
    source="(select *, date_trunc('minute', event_time at time zone 'UTC') at time zone 'UTC'"
    " as minute from peer_dlt.order_events) as events"
)

REFRESH_FACT = (
    """
create temporary table touched_minutes on commit drop as
select distinct date_trunc('minute', event_time at time zone 'UTC') at time zone 'UTC' as minute
from peer_dlt.order_events
where _dlt_load_id = any(%(loads)s)
""",
    "delete from peer_dlt.fact_revenue_1m where minute in (select minute from touched_minutes)",
    "insert into peer_dlt.fact_revenue_1m "
    + REVENUE.format(
        source="touched_minutes inner join peer_dlt.order_events as events"
        " on events.event_time >= touched_minutes.minute"
        " and events.event_time < touched_minutes.minute + interval '1 minute'"
    ),
)

CACHE_QUERIES = (
    "select max(_dlt_load_id) from peer_dlt.order_events where event_time >= '-infinity'",
    "select count(*) from peer_dlt.order_events where order_id >= ''",
)


def _dlt():
    # No usage statistics sent from the benchmark (dlt reads this when a pipeline starts).
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    logging.getLogger("dlt").setLevel(logging.WARNING)
    return dlt


def credentials(params: dict[str, str]) -> str:
    """A libpq URL for dlt (psycopg2): the host, a socket directory for the embedded server,
    goes in the query, where libpq takes a path. dlt requires a password; a server that
    trusts local connections ignores it."""
    password = quote(params.get("password") or "unused", safe="")
    return (
        f"postgresql://{quote(params['user'], safe='')}:{password}@localhost:{params['port']}"
        f"/{quote(params['dbname'], safe='')}?host={quote(params['host'], safe='')}"
    )


def read_events(path: Path):
    """The file's events, in chunks; numbers never pass through a float."""
    with path.open("rb") as lines:
        chunk = []
        for line in lines:
            if line.strip():
                chunk.append(json.loads(line, parse_float=Decimal))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class DltMerge:
    name = "dlt merge"
    fact = FACT

    def __init__(self, params: dict[str, str], work: Path, file_format: str = "csv") -> None:
        dlt = _dlt()
        self.params = params
        self.file_format = file_format
        self.resource = dlt.resource(
            read_events,
            name=TABLE,
            write_disposition="merge",
            primary_key=("order_id", "event_id"),
            columns=COLUMNS,
        )
        self.pipeline = dlt.pipeline(
            pipeline_name="countonce_bench_peer",
            destination=dlt.destinations.postgres(credentials=credentials(params)),
            dataset_name=DATASET,
            pipelines_dir=str(work),
        )
        self.conn = db.connect(params, autocommit=True)

    def seed(self, directory: Path) -> None:
        """dlt's tables from one `created` event, then the history by SQL (module docstring)."""
        seed = directory / "dlt-seed.jsonl"
        seed.write_text(
            json.dumps(
                {
                    "order_id": "dlt-seed",
                    "event_id": "dlt-seed",
                    "event_type": "created",
                    "event_time": "2000-01-01T00:00:00Z",
                }
            )
            + "\n"
        )
        self._load(seed)
        with self.conn.transaction():
            self.conn.execute("set local work_mem = '256MB'")
            self.conn.execute(SEED_FROM_LANDING)
            for index in INDEXES:
                self.conn.execute(index)
            self.conn.execute(CREATE_FACT)
            self.conn.execute(SEED_FACT)

    def _load(self, path: Path) -> list[str]:
        info = self.pipeline.run(self.resource(path), loader_file_format=self.file_format)
        info.raise_on_failed_jobs()
        return list(info.loads_ids)

    def run(self, path: Path) -> Timing:
        started = time.perf_counter()
        loads = self._load(path)
        loaded = time.perf_counter()
        with self.conn.transaction():
            for statement in REFRESH_FACT:
                self.conn.execute(statement, {"loads": loads})
        done = time.perf_counter()
        steps = {
            f"dlt_{step.step}_seconds": (step.finished_at - step.started_at).total_seconds()
            for step in self.pipeline.last_trace.steps
            if step.step in ("extract", "normalize", "load") and step.finished_at
        }
        return Timing(
            wall=done - started, load=loaded - started, transform=done - loaded, detail=steps
        )

    def close(self) -> None:
        self.conn.close()
