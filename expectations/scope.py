"""What a check run looks at: the minutes and load batches touched since the last passing run.

The scope is written to tables in schema dq, which the suites' SQL joins, so the cost of a
per-run check follows the size of the batch, not of the history. `full` puts everything in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from countonce.settings import Settings

log = logging.getLogger(__name__)

FACT = "analytics.fact_revenue_1m"
DEDUPLICATED = "intermediate.int_order_events_deduplicated"
DUPLICATES = "intermediate.int_order_event_duplicates"
# The dbt models' claims ledger: which consumer model has processed which load batch.
CLAIMS = "intermediate.int_load_batches_processed"
CONSUMERS = (
    "int_order_events_deduplicated",
    "int_order_event_duplicates",
    "int_order_events_rejected",
    "fact_revenue_1m",
)
DQ_SCHEMA = Path(__file__).with_name("dq_schema.sql")
# The columns of dq.landing_valid_events, kept for the run in dq.check_scope_landing.
LANDING_COLUMNS = (
    "landing_seq",
    "load_batch_id",
    "loaded_at",
    "event_minute",
    "order_id",
    "event_id",
    "event_type",
    "event_at",
    "amount",
    "currency",
)
# Serialises check runs: the scope tables hold the scope of one run at a time.
LOCK_KEY = "countonce.expectations"


@dataclass(frozen=True)
class Scope:
    run_id: str
    is_full: bool
    minutes: int
    batches: int
    invocation_id: str | None


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create schema dq (results, latest-status view, scope tables) if missing."""
    ddl = DQ_SCHEMA.read_text()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('countonce.dq_schema'))")
        conn.execute(ddl)


def lock(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_lock(hashtext(%s))", (LOCK_KEY,))


def unlock(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_unlock(hashtext(%s))", (LOCK_KEY,))


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def write_scope(conn: psycopg.Connection, settings: Settings, run_id: str, full: bool) -> Scope:
    """Fill dq.check_scope* for this run (caller holds the lock) and record the run."""
    has_fact = _exists(conn, FACT)
    has_dedup = _exists(conn, DEDUPLICATED)
    has_claims = _exists(conn, CLAIMS)
    has_duplicates = _exists(conn, DUPLICATES)
    invocation_id = _latest_invocation(conn, has_fact, has_claims)
    with conn.transaction():
        conn.execute("delete from dq.check_scope")
        conn.execute("delete from dq.check_scope_minutes")
        conn.execute("delete from dq.check_scope_batches")
        conn.execute("truncate dq.check_scope_landing")
        conn.execute(
            "insert into dq.check_scope"
            " (run_id, max_reject_rate, max_landing_age, lookback, future_margin)"
            " values (%s, %s, %s, %s, %s)",
            (
                run_id,
                settings.dq_max_reject_rate,
                timedelta(minutes=settings.dq_max_landing_age_minutes),
                timedelta(minutes=settings.lookback_minutes),
                timedelta(minutes=settings.future_margin_minutes),
            ),
        )
        if full:
            _full_scope(conn, has_fact, has_dedup)
        else:
            _run_scope(conn, has_fact, has_duplicates, has_claims, invocation_id)
        # Fresh statistics make the planner start from the (small) scope and reach landing
        # and the models through their indexes, instead of scanning them whole.
        conn.execute("analyze dq.check_scope, dq.check_scope_minutes, dq.check_scope_batches")
        _add_landing(conn)
        # Its row count and join keys are what the plans need; all columns cost 5x more.
        conn.execute("analyze dq.check_scope_landing (event_minute, load_batch_id)")
        minutes = conn.execute("select count(*) from dq.check_scope_minutes").fetchone()[0]
        batches = conn.execute("select count(*) from dq.check_scope_batches").fetchone()[0]
        conn.execute(
            "insert into dq.check_runs"
            " (run_id, is_full, scope_minutes, scope_batches, invocation_id)"
            " values (%s, %s, %s, %s, %s)",
            (run_id, full, minutes, batches, invocation_id),
        )
    scope = Scope(run_id, full, minutes, batches, invocation_id)
    log.info(
        "check scope",
        extra={"run_id": run_id, "full": full, "minutes": minutes, "batches": batches},
    )
    return scope


def _latest_invocation(conn: psycopg.Connection, has_fact: bool, has_claims: bool) -> str | None:
    """The last dbt invocation that processed batches into the fact (its minutes are checked)."""
    if has_claims:
        query = (
            "select invocation_id from intermediate.int_load_batches_processed"
            " where consumer = 'fact_revenue_1m' order by processed_at desc limit 1"
        )
    elif has_fact:
        query = (
            "select invocation_id from analytics.fact_revenue_1m"
            " order by recomputed_at desc nulls last limit 1"
        )
    else:
        return None
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def _full_scope(conn: psycopg.Connection, has_fact: bool, has_dedup: bool) -> None:
    conn.execute("insert into dq.check_scope_batches select load_batch_id from raw.load_batches")
    _add_minutes(conn, "select event_minute from raw.order_events")
    if has_fact:
        _add_minutes(conn, "select minute from analytics.fact_revenue_1m")
    if has_dedup:
        _add_minutes(conn, "select event_minute from intermediate.int_order_events_deduplicated")


def _run_scope(
    conn: psycopg.Connection,
    has_fact: bool,
    has_duplicates: bool,
    has_claims: bool,
    invocation_id: str | None,
) -> None:
    if has_claims:
        # Only batches every consumer model has processed; later ones are the next run's.
        conn.execute(
            "insert into dq.check_scope_batches"
            " select b.load_batch_id from raw.load_batches as b"
            " where not exists (select from dq.checked_batches as c"
            "                   where c.load_batch_id = b.load_batch_id)"
            " and (select count(distinct p.consumer)"
            "      from intermediate.int_load_batches_processed as p"
            "      where p.load_batch_id = b.load_batch_id and p.consumer = any(%s)) = %s",
            (list(CONSUMERS), len(CONSUMERS)),
        )
    else:
        conn.execute(
            "insert into dq.check_scope_batches"
            " select b.load_batch_id from raw.load_batches as b"
            " where not exists (select from dq.checked_batches as c"
            "                   where c.load_batch_id = b.load_batch_id)"
        )
    _add_minutes(
        conn,
        "select e.event_minute from raw.order_events as e"
        " join dq.check_scope_batches as s on e.load_batch_id = s.load_batch_id",
    )
    if has_fact and invocation_id is not None:
        _add_minutes(
            conn,
            "select minute from analytics.fact_revenue_1m where invocation_id = %s",
            (invocation_id,),
        )
    if has_duplicates:
        # The kept copy of a key seen in a core minute may sit in another minute (a
        # conflicting event_time): that minute joins as context, so the recomputation sees
        # the first landed copy. A copy in a core minute whose kept copy is elsewhere is a
        # duplicate, so the duplicates model points to it (read back from landing). A copy
        # that model missed would be counted by the recomputation and not by the fact: a
        # failed check, not a blind spot.
        _add_minutes(
            conn,
            "select e.event_minute from raw.order_events as e"
            " where e.landing_seq in ("
            "   select d.kept_landing_seq from intermediate.int_order_event_duplicates as d"
            "   join dq.check_scope_minutes as s on d.event_minute = s.minute and s.is_core)",
            core=False,
        )


def _add_minutes(
    conn: psycopg.Connection, source: str, params: tuple = (), *, core: bool = True
) -> None:
    # Minutes are stored aligned, so a misaligned fact minute still brings its minute in.
    stmt = sql.SQL(
        "insert into dq.check_scope_minutes (minute, is_core)"
        " select distinct date_bin('1 minute', m.minute, timestamptz '2000-01-01 00:00+00'), {}"
        " from ({}) as m (minute) where m.minute is not null"
        " on conflict do nothing"
    ).format(sql.Literal(core), sql.SQL(source))
    conn.execute(stmt, params)


def _add_landing(conn: psycopg.Connection) -> None:
    """Evaluate dq.landing_valid_events once for the scope into dq.check_scope_landing.

    The rows of every scope minute (core or context), then those of the scope's load
    batches that are not already in (their minutes normally are scope minutes, so this
    rarely adds a row). Each is reached through landing's index on that column: `offset 0`
    keeps the planner from turning the lookup into a scan of the whole history, and the
    minutes already done are a plain filter, so the contract is not evaluated twice.
    """
    columns = sql.SQL(", ").join(map(sql.Identifier, LANDING_COLUMNS))
    landing_columns = sql.SQL(", ").join(sql.Identifier("l", c) for c in LANDING_COLUMNS)
    conn.execute(
        sql.SQL(
            "insert into dq.check_scope_landing ({columns})"
            " select v.* from dq.check_scope_minutes as s"
            " cross join lateral ("
            "   select {landing_columns} from dq.landing_valid_events as l"
            "   where l.event_minute = s.minute offset 0"
            " ) as v"
        ).format(columns=columns, landing_columns=landing_columns)
    )
    conn.execute(
        sql.SQL(
            "insert into dq.check_scope_landing ({columns})"
            " select v.* from dq.check_scope_batches as s"
            " cross join lateral ("
            "   select {landing_columns} from dq.landing_valid_events as l"
            "   where l.load_batch_id = s.load_batch_id"
            "   and l.event_minute <> all (coalesce("
            "     (select array_agg(m.minute) from dq.check_scope_minutes as m), '{{}}'))"
            "   offset 0"
            " ) as v"
            " on conflict (landing_seq) do nothing"
        ).format(columns=columns, landing_columns=landing_columns)
    )


def mark_checked(conn: psycopg.Connection, run_id: str) -> None:
    """Remember the batches of a passing run so later per-run checks skip them."""
    conn.execute(
        "insert into dq.checked_batches (load_batch_id, run_id)"
        " select load_batch_id, %s from dq.check_scope_batches on conflict do nothing",
        (run_id,),
    )
