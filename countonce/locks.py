"""Every PostgreSQL advisory lock countonce takes, in one namespace.

Keys are two 32-bit integers: countonce's namespace and what the lock serialises. A source's
lock uses a namespace of its own, with the hash of the source's name. Advisory locks belong to
a database, so each database has its own set.
"""

from __future__ import annotations

from enum import IntEnum

import psycopg

NAMESPACE = 0x636F756E  # "coun"
SOURCE_NAMESPACE = NAMESPACE + 1


class Lock(IntEnum):
    MIGRATIONS = 1  # applying the schema migrations
    PIPELINE = 2  # one batch run at a time (session lock, held for the whole run)
    CHECKS = 3  # one check run at a time
    ROLES = 4  # creating the least-privilege roles


def xact_lock(conn: psycopg.Connection, lock: Lock) -> None:
    """Wait for `lock` until the current transaction ends."""
    conn.execute("select pg_advisory_xact_lock(%s, %s)", (NAMESPACE, int(lock)))


def try_lock(conn: psycopg.Connection, lock: Lock) -> bool:
    """Take `lock` for the session, or return False at once when another session holds it."""
    row = conn.execute("select pg_try_advisory_lock(%s, %s)", (NAMESPACE, int(lock))).fetchone()
    return bool(row[0])


def lock(conn: psycopg.Connection, lock: Lock) -> None:
    """Wait for `lock`, held for the session until unlock()."""
    conn.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(lock)))


def unlock(conn: psycopg.Connection, lock: Lock) -> None:
    conn.execute("select pg_advisory_unlock(%s, %s)", (NAMESPACE, int(lock)))


def try_lock_source(conn: psycopg.Connection, source_name: str) -> bool:
    row = conn.execute(
        "select pg_try_advisory_lock(%s, hashtext(%s))", (SOURCE_NAMESPACE, source_name)
    ).fetchone()
    return bool(row[0])


def unlock_source(conn: psycopg.Connection, source_name: str) -> None:
    conn.execute("select pg_advisory_unlock(%s, hashtext(%s))", (SOURCE_NAMESPACE, source_name))


def holder(conn: psycopg.Connection, lock: Lock) -> dict[str, object] | None:
    """Who holds `lock` now (pid, application name, since when), or None."""
    row = conn.execute(
        """
        select a.pid, a.application_name, a.backend_start, a.client_addr::text
        from pg_locks as l
        join pg_stat_activity as a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted and l.objsubid = 2
          and l.database = (select oid from pg_database where datname = current_database())
          and l.classid = %s::bigint::oid and l.objid = %s::bigint::oid
        """,
        (NAMESPACE, int(lock)),
    ).fetchone()
    if row is None:
        return None
    return {
        "pid": row[0],
        "application_name": row[1],
        "backend_start": row[2].isoformat() if row[2] else None,
        "client_addr": row[3],
    }
