"""Create the landing schema idempotently."""

import hashlib
from importlib.resources import files

import psycopg

_LOCK_KEY = 0x636F756E  # serialises concurrent migrations from parallel loaders


def migrate(conn: psycopg.Connection) -> None:
    """Apply ingest/schema.sql unless the database already has this version of it.

    The version is a hash kept as the comment of schema raw, so a loader role that may not
    run DDL can still start once the owner has migrated (`countonce db roles` does).
    """
    ddl = files("ingest").joinpath("schema.sql").read_text()
    version = "countonce landing schema " + hashlib.sha256(ddl.encode()).hexdigest()[:16]
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        current = conn.execute(
            "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'raw'"
        ).fetchone()
        if current is not None and current[0] == version:
            return
        conn.execute(ddl)
        conn.execute(f"comment on schema raw is '{version}'")
