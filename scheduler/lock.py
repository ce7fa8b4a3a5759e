"""Single flight across processes, and where a run keeps its records.

On PostgreSQL: a session-level advisory lock on a dedicated connection held for the whole
run, so it is released when the run ends or when its process dies (the server drops the
session), never left behind; the ledger is ops.pipeline_runs. On Spark (scheduler/spark_runs.py):
a file lock, and the ledger as parquet files.
"""

from __future__ import annotations

import logging

import psycopg

from countonce import db, locks
from countonce.migrate import migrate
from scheduler import ledger
from scheduler.ledger import RunRecord

log = logging.getLogger(__name__)


class PipelineLock:
    """A connection that may hold the pipeline lock; also used for the ledger and cancels."""

    def __init__(self, params: dict[str, str]) -> None:
        self.conn: psycopg.Connection = db.connect(
            {**params, "application_name": "countonce pipeline lock"}, autocommit=True
        )
        self.held = False

    def try_acquire(self) -> bool:
        self.held = locks.try_lock(self.conn, locks.Lock.PIPELINE)
        return self.held

    def holder(self) -> str:
        """Who holds the lock now, for the skip message."""
        found = locks.holder(self.conn, locks.Lock.PIPELINE)
        if not found:
            return ""
        return f"PostgreSQL backend pid {found['pid']}, connected {found['backend_start']}"

    def migrate(self) -> None:
        migrate(self.conn)

    def save(self, record: RunRecord) -> None:
        ledger.save(self.conn, record)

    def close_abandoned(self, current_run_id: str) -> int:
        return ledger.close_abandoned(self.conn, current_run_id)

    def record_processed(self, run_id: str, invocation_id: str) -> int:
        from scheduler.scope import record_processed

        return record_processed(self.conn, run_id, invocation_id)

    def cancel(self) -> int:
        from scheduler.stages import cancel_queries

        return cancel_queries(self.conn)

    def reachable(self) -> bool:
        try:
            self.conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def close(self) -> None:
        """Release the lock (if held) and the connection; quiet when the server is gone."""
        try:
            if self.held and not self.conn.closed:
                locks.unlock(self.conn, locks.Lock.PIPELINE)
        except psycopg.Error as exc:
            log.debug("could not release the pipeline lock", extra={"error": str(exc)})
        finally:
            self.held = False
            self.conn.close()

    def __enter__(self) -> PipelineLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
