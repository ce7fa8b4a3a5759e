"""Single flight across processes: a session-level PostgreSQL advisory lock.

The lock lives on a dedicated connection held for the whole run, so it is released when the
run ends or when its process dies (the server drops the session), never left behind.
"""

from __future__ import annotations

import logging

import psycopg

from countonce import db, locks

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

    def holder(self) -> dict[str, object] | None:
        """Who holds the lock now (pid, application name, since when), for the skip message."""
        return locks.holder(self.conn, locks.Lock.PIPELINE)

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
