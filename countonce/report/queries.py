"""What the report reads, as plain rows, from relations named in countonce/relations.py; each
query reads only relations that exist, so the report works on a database at any stage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg import sql

from countonce import db, relations

FACT = str(relations.FACT)
LANDING = str(relations.LANDING)
LOAD_BATCHES = str(relations.LOAD_BATCHES)
LOAD_REJECTS = str(relations.LOAD_REJECTS)
KEPT = str(relations.DEDUPLICATED)
CONTRACT_REJECTS = str(relations.REJECTED)
DUPLICATES = str(relations.DUPLICATES)
CONFLICTS = str(relations.CONFLICTS)
CONSERVATION = str(relations.LEDGER_BY_BATCH)
CHECKS = str(relations.LATEST_CHECK_STATUS)
RUNS = str(relations.PIPELINE_RUNS)
PRODUCERS = str(relations.PRODUCER_COMPLETENESS)
GAPS = str(relations.PRODUCER_GAPS)


@dataclass(frozen=True)
class Revenue:
    """Money and events of one currency over some minutes of the fact."""

    currency: str
    gross: Decimal
    refunded: Decimal
    net: Decimal
    paid_events: int
    refund_events: int


@dataclass(frozen=True)
class CurrencyTotals(Revenue):
    minutes: int
    first_minute: datetime
    last_minute: datetime


@dataclass(frozen=True)
class MinuteRevenue(Revenue):
    minute: datetime


@dataclass(frozen=True)
class BatchOutcome:
    """One load batch; a count is None when the model that holds it has not been built."""

    load_batch_id: int
    source_file: str
    finished_at: datetime
    landed: int
    rejected_at_load: int
    kept: int | None
    duplicates: int | None
    conflicts: int | None
    rejected_by_contract: int | None
    balanced: bool | None


@dataclass(frozen=True)
class DedupFigures:
    """Totals over all history; None where the relation (or its column) does not exist yet."""

    rows_landed: int | None
    events_kept: int | None
    duplicates: int | None
    late_duplicates: int | None
    conflicts: int | None
    rejected_at_load: int | None
    rejected_by_contract: int | None
    batches_out_of_balance: int | None


@dataclass(frozen=True)
class ProducerCompleteness:
    """How much of one producer's sequence arrived (analytics.producer_completeness)."""

    producer_id: str
    highest_sequence: int
    sequences_seen: int
    missing: int
    open_gaps: int
    overdue_gaps: int
    lowest_missing: int | None
    oldest_gap_noticed_at: datetime | None
    oldest_gap_open_seconds: int | None
    out_of_order: int
    reused: int


@dataclass(frozen=True)
class ProducerGap:
    """One open gap of a producer's sequence (analytics.producer_gaps)."""

    producer_id: str
    first_missing: int
    last_missing: int
    missing: int
    noticed_at: datetime
    overdue: bool


@dataclass(frozen=True)
class Ledger:
    """The newest rows of a ledger table, every column, as the database has them."""

    columns: list[str]
    rows: list[tuple]


@contextmanager
def snapshot(params: dict[str, str]) -> Iterator[psycopg.Connection]:
    """A read-only connection in one snapshot, so every figure of a report agrees with the
    others; times are in UTC."""
    with db.connect(params) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute("set local time zone 'UTC'")
        yield conn


def now(conn: psycopg.Connection) -> datetime:
    return conn.execute("select now()").fetchone()[0]


def exists(conn: psycopg.Connection, relation: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()
    return bool(row and row[0])


def columns(conn: psycopg.Connection, relation: str) -> list[str]:
    rows = conn.execute(
        "select attname from pg_attribute"
        " where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped"
        " order by attnum",
        (relation,),
    ).fetchall()
    return [r[0] for r in rows]


def has_columns(conn: psycopg.Connection, relation: str, *names: str) -> bool:
    return exists(conn, relation) and set(names) <= set(columns(conn, relation))


def ident(relation: str) -> sql.Identifier:
    schema, name = relation.split(".")
    return sql.Identifier(schema, name)


# ---------------------------------------------------------------- revenue


def currency_totals(conn: psycopg.Connection) -> list[CurrencyTotals] | None:
    """Revenue per currency over the whole fact, by currency; None before the fact exists."""
    if not exists(conn, FACT):
        return None
    query = sql.SQL(
        """
        select currency, sum(gross_paid_amount), sum(refunded_amount), sum(net_amount),
               sum(paid_event_count), sum(refund_event_count), count(*), min(minute),
               max(minute)
        from {fact}
        group by currency
        order by currency
        """
    ).format(fact=ident(FACT))
    return [CurrencyTotals(*row) for row in conn.execute(query)]


def latest_minutes(conn: psycopg.Connection, per_currency: int) -> dict[str, list[MinuteRevenue]]:
    """The latest `per_currency` minutes of the fact for each currency, oldest first."""
    query = sql.SQL(
        """
        select currency, gross_paid_amount, refunded_amount, net_amount, paid_event_count,
               refund_event_count, minute
        from (
            select *, row_number() over (partition by currency order by minute desc) as recency
            from {fact}
        ) as ranked
        where recency <= %s
        order by currency, minute
        """
    ).format(fact=ident(FACT))
    series: dict[str, list[MinuteRevenue]] = {}
    for row in conn.execute(query, (per_currency,)):
        series.setdefault(row[0], []).append(MinuteRevenue(*row))
    return series


# ---------------------------------------------------------------- duplicates, conflicts, rejects


def _counts_by_batch(
    conn: psycopg.Connection, relation: str, batch_ids: Sequence[int]
) -> dict[int, int] | None:
    """Rows of `relation` per load batch, or None when it has no load_batch_id to count by."""
    if not has_columns(conn, relation, "load_batch_id"):
        return None
    query = sql.SQL(
        "select load_batch_id, count(*) from {} where load_batch_id = any(%s) group by 1"
    ).format(ident(relation))
    return dict(conn.execute(query, (list(batch_ids),)).fetchall())


def _conflicts_by_batch(
    conn: psycopg.Connection, batch_ids: Sequence[int]
) -> dict[int, int] | None:
    """Conflicts per load batch of the conflicting copy, or None before the model exists."""
    if not has_columns(conn, CONFLICTS, "conflicting_landing_seq"):
        return None
    query = sql.SQL(
        """
        select e.load_batch_id, count(*)
        from {conflicts} as c
        inner join {landing} as e on e.landing_seq = c.conflicting_landing_seq
        where e.load_batch_id = any(%s)
        group by 1
        """
    ).format(conflicts=ident(CONFLICTS), landing=ident(LANDING))
    return dict(conn.execute(query, (list(batch_ids),)).fetchall())


def _balance_by_batch(conn: psycopg.Connection, batch_ids: Sequence[int]) -> dict[int, bool]:
    """Whether each reconciled batch conserves its rows; batches not reconciled are absent."""
    if not has_columns(conn, CONSERVATION, "load_batch_id", "is_balanced"):
        return {}
    query = sql.SQL(
        "select load_batch_id, is_balanced from {} where load_batch_id = any(%s)"
    ).format(ident(CONSERVATION))
    return dict(conn.execute(query, (list(batch_ids),)).fetchall())


def batch_outcomes(conn: psycopg.Connection, limit: int) -> list[BatchOutcome] | None:
    """The latest `limit` load batches, oldest first; None before anything was loaded."""
    if not exists(conn, LOAD_BATCHES):
        return None
    query = sql.SQL(
        """
        select load_batch_id, source_file, finished_at, rows_landed, rows_rejected
        from {}
        order by load_batch_id desc
        limit %s
        """
    ).format(ident(LOAD_BATCHES))
    batches = conn.execute(query, (limit,)).fetchall()
    ids = [b[0] for b in batches]
    kept = _counts_by_batch(conn, KEPT, ids)
    duplicates = _counts_by_batch(conn, DUPLICATES, ids)
    conflicts = _conflicts_by_batch(conn, ids)
    rejected = _counts_by_batch(conn, CONTRACT_REJECTS, ids)
    balanced = _balance_by_batch(conn, ids)

    def of(found: dict[int, int] | None, batch_id: int) -> int | None:
        return None if found is None else found.get(batch_id, 0)

    return [
        BatchOutcome(
            load_batch_id=batch_id,
            source_file=source_file,
            finished_at=finished_at,
            landed=landed,
            rejected_at_load=rejected_at_load,
            kept=of(kept, batch_id),
            duplicates=of(duplicates, batch_id),
            conflicts=of(conflicts, batch_id),
            rejected_by_contract=of(rejected, batch_id),
            balanced=balanced.get(batch_id),
        )
        for batch_id, source_file, finished_at, landed, rejected_at_load in reversed(batches)
    ]


def _total_rows(conn: psycopg.Connection, relation: str) -> int | None:
    if not exists(conn, relation):
        return None
    return conn.execute(sql.SQL("select count(*) from {}").format(ident(relation))).fetchone()[0]


def _count_where(
    conn: psycopg.Connection, relation: str, flag: str, *, is_true: bool
) -> int | None:
    """Rows of `relation` whose boolean column `flag` is `is_true`."""
    if not has_columns(conn, relation, flag):
        return None
    query = sql.SQL("select count(*) from {} where {} = %s").format(
        ident(relation), sql.Identifier(flag)
    )
    return conn.execute(query, (is_true,)).fetchone()[0]


def dedup_figures(conn: psycopg.Connection) -> DedupFigures:
    return DedupFigures(
        rows_landed=_total_rows(conn, LANDING),
        events_kept=_total_rows(conn, KEPT),
        duplicates=_total_rows(conn, DUPLICATES),
        late_duplicates=_count_where(conn, DUPLICATES, "is_late_duplicate", is_true=True),
        conflicts=_total_rows(conn, CONFLICTS),
        rejected_at_load=_total_rows(conn, LOAD_REJECTS),
        rejected_by_contract=_total_rows(conn, CONTRACT_REJECTS),
        batches_out_of_balance=_count_where(conn, CONSERVATION, "is_balanced", is_true=False),
    )


# ---------------------------------------------------------------- producers


def producer_completeness(
    conn: psycopg.Connection, limit: int
) -> list[ProducerCompleteness] | None:
    """The `limit` producers missing most, then by id; None before the model exists."""
    if not exists(conn, PRODUCERS):
        return None
    query = sql.SQL(
        """
        select producer_id, highest_sequence, sequences_seen, missing_count, open_gap_count,
               overdue_gap_count, lowest_missing, oldest_gap_noticed_at, oldest_gap_open_seconds,
               out_of_order_count, reused_sequence_count
        from {}
        order by missing_count desc, producer_id
        limit %s
        """
    ).format(ident(PRODUCERS))
    return [ProducerCompleteness(*row) for row in conn.execute(query, (limit,))]


def producer_gaps(
    conn: psycopg.Connection, producer_ids: Sequence[str], limit: int
) -> list[ProducerGap]:
    """The open gaps of these producers, oldest first, at most `limit`."""
    if not exists(conn, GAPS):
        return []
    query = sql.SQL(
        """
        select producer_id, first_missing, last_missing, missing_count, noticed_at, is_overdue
        from {}
        where producer_id = any(%s)
        order by noticed_at, producer_id, first_missing
        limit %s
        """
    ).format(ident(GAPS))
    return [ProducerGap(*row) for row in conn.execute(query, (list(producer_ids), limit))]


# ---------------------------------------------------------------- checks and runs


def _latest_rows(
    conn: psycopg.Connection, relation: str, order_by: Sequence[str], limit: int
) -> Ledger | None:
    """Every column of `relation`, newest rows first by the first of `order_by` it has."""
    if not exists(conn, relation):
        return None
    names = columns(conn, relation)
    order = next((c for c in order_by if c in names), None)
    query = sql.SQL("select * from {}").format(ident(relation))
    if order:
        query += sql.SQL(" order by {} desc nulls last").format(sql.Identifier(order))
    query += sql.SQL(" limit %s")
    return Ledger(names, conn.execute(query, (limit,)).fetchall())


def latest_checks(conn: psycopg.Connection, limit: int) -> Ledger | None:
    """The latest status of each check; None before any check was recorded."""
    return _latest_rows(conn, CHECKS, ["checked_at", "run_at", "finished_at"], limit)


def latest_runs(conn: psycopg.Connection, limit: int) -> Ledger | None:
    """The newest pipeline runs first; None before the run ledger exists."""
    return _latest_rows(conn, RUNS, ["started_at", "run_id", "finished_at"], limit)
