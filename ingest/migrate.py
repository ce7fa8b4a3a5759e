"""Create the landing schema idempotently."""

from importlib.resources import files

import psycopg

_LOCK_KEY = 0x636F756E  # serialises concurrent migrations from parallel loaders


def migrate(conn: psycopg.Connection) -> None:
    ddl = files("ingest").joinpath("schema.sql").read_text()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(ddl)
