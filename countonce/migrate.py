"""The application's own schemas (raw, dq, ops): ordered SQL files, a recorded version.

countonce/migrations/NNNN_name.sql are applied in order, each once, in one transaction under
an advisory lock; ops.schema_migrations records which. A database that has them all needs no
DDL, so a role that may not run DDL (the loader) starts once the owner has migrated
(`countonce db migrate`, or `countonce db roles`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import psycopg
from psycopg import sql

from countonce import locks
from countonce.relations import SCHEMA_MIGRATIONS, exists

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_VERSION_TABLE = sql.SQL(
    "create schema if not exists {schema};"
    " create table if not exists {table} ("
    " version integer primary key, name text not null,"
    " applied_at timestamptz not null default clock_timestamp())"
).format(schema=sql.Identifier(SCHEMA_MIGRATIONS.schema), table=SCHEMA_MIGRATIONS.ident)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    found = []
    for entry in files("countonce.migrations").iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"countonce/migrations is not numbered 1..n without gaps: {versions}")
    return tuple(found)


def current_version(conn: psycopg.Connection) -> int:
    """The highest migration applied to this database; 0 for a database never migrated."""
    if not exists(conn, SCHEMA_MIGRATIONS):
        return 0
    query = sql.SQL("select coalesce(max(version), 0) from {}").format(SCHEMA_MIGRATIONS.ident)
    return int(conn.execute(query).fetchone()[0])


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations this database lacks; returns their names. `conn` is in autocommit."""
    wanted = migrations()
    if current_version(conn) == wanted[-1].version:
        return []
    applied = []
    with conn.transaction():
        locks.xact_lock(conn, locks.Lock.MIGRATIONS)
        conn.execute(_VERSION_TABLE)
        done = current_version(conn)
        for migration in wanted:
            if migration.version <= done:
                continue
            conn.execute(migration.sql)
            conn.execute(
                sql.SQL("insert into {} (version, name) values (%s, %s)").format(
                    SCHEMA_MIGRATIONS.ident
                ),
                (migration.version, migration.name),
            )
            applied.append(f"{migration.version:04d}_{migration.name}")
    if applied:
        log.info("database migrated", extra={"applied": applied})
    return applied


def migrate_spark(settings) -> list[str]:
    """On Spark: the application's tables, whose files the Python side writes with pyarrow
    (countonce/spark_tables.py, the home of their columns), registered in the metastore.
    Idempotent: every statement is `if not exists`; returns the tables registered."""
    from countonce import spark, spark_tables

    session = spark.session(settings)
    created = []
    for table in spark_tables.SCHEMAS:
        session.sql(f"create database if not exists {table.split('.')[0]}")
        if not session.catalog.tableExists(table):
            spark_tables.location(settings, table).mkdir(parents=True, exist_ok=True)
            session.sql(spark_tables.ddl(settings, table))
            created.append(table)
    if created:
        log.info("spark tables registered", extra={"tables": created})
    return created
