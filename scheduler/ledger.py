"""The run ledger, ops.pipeline_runs: one row per batch attempt, readable by a dashboard.
Its table is created by the migrations (countonce/migrations)."""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from countonce.relations import PIPELINE_RUNS, exists

STATUSES = ("running", "succeeded", "checks_failed", "failed", "skipped", "interrupted")
STAGES = ("load", "dbt", "checks")


@dataclass
class RunRecord:
    """One batch attempt; mirrors a row of ops.pipeline_runs."""

    trigger: str
    started_at: datetime
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "running"
    finished_at: datetime | None = None
    load_seconds: Decimal | None = None
    dbt_seconds: Decimal | None = None
    checks_seconds: Decimal | None = None
    lines_read: int | None = None
    rows_loaded: int | None = None
    rejects_at_load: int | None = None
    rejects: int | None = None
    duplicates_absorbed: int | None = None
    conflicts: int | None = None
    checks_failed: int | None = None
    checks_warned: int | None = None
    load_batches_processed: int | None = None
    dbt_invocation_id: str | None = None
    error: str | None = None
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    # Not stored: whether the row reached the database, and whether a retry soon makes sense.
    recorded: bool = field(default=False, compare=False)
    retryable: bool = field(default=False, compare=False)

    def as_row(self) -> dict[str, object]:
        """The stored columns, as they are."""
        return {f: getattr(self, f) for f in _COLUMNS}

    def as_dict(self) -> dict[str, object]:
        out = {}
        for f in _COLUMNS:
            value = getattr(self, f)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = str(value)
            out[f] = value
        return out


_COLUMNS = tuple(
    f.name for f in dataclasses.fields(RunRecord) if f.name not in ("recorded", "retryable")
)


def save(conn: psycopg.Connection, record: RunRecord) -> None:
    """Insert or overwrite the record's row (a run is saved when it starts and when it ends)."""
    columns = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
    values = sql.SQL(", ").join(sql.Placeholder(c) for c in _COLUMNS)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in _COLUMNS if c != "run_id"
    )
    stmt = sql.SQL("insert into {} ({}) values ({}) on conflict (run_id) do update set {}").format(
        PIPELINE_RUNS.ident, columns, values, updates
    )
    conn.execute(stmt, {c: getattr(record, c) for c in _COLUMNS})
    record.recorded = True


def close_abandoned(conn: psycopg.Connection, current_run_id: str) -> int:
    """Mark rows left 'running' by a process that died as interrupted.

    Only the holder of the pipeline lock calls this, so any other running row is stale.
    """
    cur = conn.execute(
        sql.SQL(
            """
        update {}
        set status = 'interrupted',
            finished_at = coalesce(finished_at, clock_timestamp()),
            error = coalesce(error, 'the process ended before recording an outcome')
        where status = 'running' and run_id <> %s
        """
        ).format(PIPELINE_RUNS.ident),
        (current_run_id,),
    )
    return cur.rowcount


def recent(conn: psycopg.Connection, limit: int = 10) -> list[dict[str, object]]:
    if not exists(conn, PIPELINE_RUNS):
        return []
    cur = conn.cursor(row_factory=dict_row)
    cur.execute(
        sql.SQL("select {} from {} order by started_at desc limit %s").format(
            sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)), PIPELINE_RUNS.ident
        ),
        (limit,),
    )
    return cur.fetchall()
