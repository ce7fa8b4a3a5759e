"""Single flight across processes: a session-level PostgreSQL advisory lock.

The lock lives on a dedicated connection held for the whole run, so it is released when the
run ends or when its process dies (the server drops the session), never left behind.
"""

from __future__ import annotations

import logging

import psycopg

from countonce import db

log = logging.getLogger(__name__)

# One key per database: advisory locks are scoped to the current database.
PIPELINE_LOCK_KEY = 0x636F756E74_01


class PipelineLock:
    """A connection that may hold the pipeline lock; also used for the ledger and cancels."""

    def __init__(self, params: dict[str, str]) -> None:
        self.conn: psycopg.Connection = db.connect(
            {**params, "application_name": "countonce pipeline lock"}, autocommit=True
        )
        self.held = False

    def try_acquire(self) -> bool:
        self.held = bool(
            self.conn.execute("select pg_try_advisory_lock(%s)", (PIPELINE_LOCK_KEY,)).fetchone()[0]
        )
        return self.held

    def holder(self) -> dict[str, object] | None:
        """Who holds the lock now (pid, application name, since when), for the skip message."""
        row = self.conn.execute(
            """
            select a.pid, a.application_name, a.backend_start, a.client_addr::text
            from pg_locks as l
            join pg_stat_activity as a on a.pid = l.pid
            where l.locktype = 'advisory' and l.granted
              and l.database = (select oid from pg_database where datname = current_database())
              and ((l.classid::bigint << 32) | l.objid::bigint) = %s and l.objsubid = 1
            """,
            (PIPELINE_LOCK_KEY,),
        ).fetchone()
        if row is None:
            return None
        return {
            "pid": row[0],
            "application_name": row[1],
            "backend_start": row[2].isoformat() if row[2] else None,
            "client_addr": row[3],
        }

    def close(self) -> None:
        """Release the lock (if held) and the connection; quiet when the server is gone."""
        try:
            if self.held and not self.conn.closed:
                self.conn.execute("select pg_advisory_unlock(%s)", (PIPELINE_LOCK_KEY,))
        except psycopg.Error as exc:
            log.debug("could not release the pipeline lock", extra={"error": str(exc)})
        finally:
            self.held = False
            self.conn.close()

    def __enter__(self) -> PipelineLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
