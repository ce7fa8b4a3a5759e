"""Helpers for the dbt model tests: land rows the way the loader does, build, read back."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from countonce.dbt import DbtOutcome, invoke
from countonce.settings import Settings
from ingest.event_minute import NULL, utc_minute
from scheduler.scope import record_processed

FACT_VALUES = (
    "gross_paid_amount",
    "refunded_amount",
    "net_amount",
    "paid_event_count",
    "refund_event_count",
)
DEDUP_VALUES = (
    "event_type",
    "event_at",
    "amount",
    "currency",
    "customer_id",
    "landing_seq",
    "load_batch_id",
)


def event(
    event_id: str,
    order_id: str = "o-1",
    event_type: str = "paid",
    amount: str | float | None = "10.00",
    currency: str | None = "USD",
    event_time: str = "2026-11-26T10:01:12Z",
    **extra: object,
) -> dict:
    record = {
        "event_id": event_id,
        "order_id": order_id,
        "event_type": event_type,
        "event_time": event_time,
        **extra,
    }
    if amount is not None:
        record["amount"] = amount
    if currency is not None:
        record["currency"] = currency
    return record


def land_rows(
    conn: psycopg.Connection,
    records: Iterable[dict | str],
    *,
    source_file: str = "events-0001.jsonl",
    loaded_at: datetime | None = None,
) -> int:
    """Land records as one load batch in the current transaction (the loader's contract:
    the batch row and its rows commit together); returns the load_batch_id."""
    rows = [r if isinstance(r, str) else json.dumps(r) for r in records]
    batch = conn.execute("select nextval('raw.load_batch_id_seq')").fetchone()[0]
    first = conn.execute(
        "select coalesce(max(last_line), 0) + 1 from raw.load_batches where source_file = %s",
        (source_file,),
    ).fetchone()[0]
    with conn.cursor() as cur:
        cur.executemany(
            "insert into raw.order_events"
            " (load_batch_id, source_file, source_line, source_offset, loaded_at, record)"
            " values (%s, %s, %s, %s, coalesce(%s, now()), %s::jsonb)",
            [
                (batch, source_file, first + i, (first + i) * 100, loaded_at, row)
                for i, row in enumerate(rows)
            ],
        )
    fill_event_minute(conn, batch)
    conn.execute(
        "insert into raw.load_batches (load_batch_id, source_file, first_line, last_line,"
        " first_offset, end_offset, lines_read, rows_landed, rows_rejected, started_at,"
        " finished_at) values (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s)",
        (
            batch,
            source_file,
            first,
            first + len(rows) - 1,
            first * 100,
            (first + len(rows)) * 100,
            len(rows),
            len(rows),
            loaded_at or datetime.now(UTC),
            loaded_at or datetime.now(UTC),
        ),
    )
    return batch


def land(conn: psycopg.Connection, records: Iterable[dict | str], **kwargs) -> int:
    """Land records as one committed load batch."""
    with conn.transaction():
        return land_rows(conn, records, **kwargs)


def dbt_settings(settings: Settings, work: Path) -> Settings:
    """Settings whose dbt target dir is shared by the session, so dbt parses partially."""
    return dataclasses.replace(settings, home=work)


def dbt(
    settings: Settings,
    params: dict[str, str],
    *args: str,
    expect_success: bool = True,
    record: bool = True,
    **extra_vars: object,
) -> DbtOutcome:
    """Run dbt (default: build); after a successful build, record its scope as processed, as
    a batch run does once its checks pass (record=False: as if the run had died there)."""
    outcome = invoke(settings, params, list(args or ["build"]), extra_vars=extra_vars or None)
    if expect_success and not outcome.success:
        raise AssertionError(f"dbt {' '.join(args)} failed: {outcome.failures}")
    if outcome.success and record and list(args[:1] or ["build"]) == ["build"]:
        with psycopg.connect(**params, autocommit=True) as conn:
            record_processed(conn, str(uuid.uuid4()), last_invocation())
    return outcome


def last_invocation() -> str:
    """The id of the last dbt invocation of this process."""
    from dbt_common.invocation import get_invocation_id

    return get_invocation_id()


def written_by_last_build(conn: psycopg.Connection, relation: str) -> int:
    """Rows of `relation` that the last dbt invocation wrote."""
    return conn.execute(
        f"select count(*) from {relation} where invocation_id = %s", (last_invocation(),)
    ).fetchone()[0]


def scope_size(conn: psycopg.Connection) -> int:
    """Load batches in the last build's scope."""
    return conn.execute(
        "select count(*) from intermediate.int_load_batches_unprocessed"
    ).fetchone()[0]


def fact(conn: psycopg.Connection, *, with_run: bool = False) -> dict[tuple, tuple]:
    columns = FACT_VALUES + (("recomputed_at", "invocation_id") if with_run else ())
    rows = conn.execute(
        f"select minute, currency, {', '.join(columns)} from analytics.fact_revenue_1m"
    ).fetchall()
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def dedup_history(conn: psycopg.Connection) -> dict[tuple, tuple]:
    rows = conn.execute(
        f"select order_id, event_id, {', '.join(DEDUP_VALUES)}"
        " from intermediate.int_order_events_deduplicated"
    ).fetchall()
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def duplicates(conn: psycopg.Connection) -> dict[int, tuple]:
    rows = conn.execute(
        "select landing_seq, order_id, event_id, is_late_duplicate"
        " from intermediate.int_order_event_duplicates"
    ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def unbalanced_batches(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select * from reconciliation.recon_conservation_by_batch where not is_balanced"
    ).fetchall()


def fill_event_minute(conn, batch: int) -> None:
    """What the loader writes for rows landed by hand: the UTC minute of event_time, by the
    loader's own rule (ingest/event_minute.py)."""
    rows = conn.execute(
        "select landing_seq, record ->> 'event_time' from raw.order_events"
        " where load_batch_id = %s",
        (batch,),
    ).fetchall()
    minutes = [(minute_of(text), seq) for seq, text in rows]
    with conn.cursor() as cur:
        cur.executemany(
            "update raw.order_events set event_minute = %s where landing_seq = %s", minutes
        )


def minute_of(event_time: str | None) -> datetime | None:
    """ingest.event_minute's UTC minute as a datetime (None where it gives COPY's NULL)."""
    text = utc_minute(event_time)
    if text == NULL:
        return None
    return datetime.fromisoformat(text.decode())
