"""Least-privilege roles: a loader, a transformer that owns the models, a read-only analyst.

`countonce db roles` runs this as the database's owner (or a superuser); it is idempotent.

- countonce_loader: appends to the landing table, its rejects and the batch ledger, and
  maintains raw.source_offsets; it reads the migrations' version (ops.schema_migrations).
  It cannot read the landing rows back, touch any model, or run DDL.
- countonce_transformer: owns (and may create) the schemas of the dbt models, of the
  data-quality results (dq) and of the run ledger (ops); reads raw but cannot write it.
  A login that runs whole batches (`countonce run`) is granted both roles by the operator:
  `grant countonce_loader, countonce_transformer to <login>`.
- countonce_analyst: reads analytics, dq and ops; nothing in raw, staging, intermediate or
  reconciliation.

Every role can log in. Its password comes from COUNTONCE_<ROLE>_PASSWORD when set; a role
without one has no password, so it can only log in where pg_hba.conf trusts the connection
(the embedded server's local socket). Running again without a password variable leaves an
existing password alone. Default privileges cover the tables the transformer creates later
(dbt replaces tables on every full build).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from countonce import locks
from countonce.relations import SCHEMA_MIGRATIONS
from countonce.settings import Settings

log = logging.getLogger(__name__)

LOADER = "countonce_loader"
TRANSFORMER = "countonce_transformer"
ANALYST = "countonce_analyst"

LANDING_SCHEMA = "raw"
# Written by the loader; raw.source_offsets is also read and updated by it.
LANDING_APPEND_TABLES = ("order_events", "load_rejects", "load_batches")
OFFSETS_TABLE = "source_offsets"
BATCH_SEQUENCE = "load_batch_id_seq"
# Schemas the transformer owns: dbt's (dbt_project.yml), dq (checks) and ops (run ledger).
TRANSFORMER_SCHEMAS = (
    "staging",
    "intermediate",
    "analytics",
    "reconciliation",
    "bench",
    "dq",
    "ops",
)
ANALYST_SCHEMAS = ("analytics", "dq", "ops")


@dataclass(frozen=True)
class RolesReport:
    created: list[str]
    passwords_set: list[str]
    schemas_owned: list[str]

    def __str__(self) -> str:
        created = ", ".join(self.created) or "none (all existed)"
        passwords = ", ".join(self.passwords_set) or "none"
        return (
            f"roles ready: {LOADER}, {TRANSFORMER}, {ANALYST}; created: {created}; "
            f"passwords set: {passwords}; schemas owned by {TRANSFORMER}: "
            f"{', '.join(self.schemas_owned)}"
        )


def ensure_roles(settings: Settings, params: dict[str, str]) -> RolesReport:
    """Create or update the three roles and their privileges in the configured database."""
    from countonce import db
    from countonce.migrate import migrate

    passwords = {
        LOADER: settings.loader_password,
        TRANSFORMER: settings.transformer_password,
        ANALYST: settings.analyst_password,
    }
    with db.connect(params, autocommit=True) as conn:
        migrate(conn)  # the landing schema exists, owned by the administrator
        with conn.transaction():
            locks.xact_lock(conn, locks.Lock.ROLES)
            created = [role for role in passwords if _create_role(conn, role)]
            for role, password in passwords.items():
                if password:
                    conn.execute(
                        sql.SQL("alter role {} password {}").format(
                            sql.Identifier(role), sql.Literal(password)
                        )
                    )
            owned = _grant_transformer(conn)
            _grant_loader(conn)
            _grant_analyst(conn)
    report = RolesReport(created, [r for r, p in passwords.items() if p], owned)
    log.info("roles ready", extra={"roles_created": created, "passwords_set": report.passwords_set})
    return report


def _create_role(conn: psycopg.Connection, role: str) -> bool:
    if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
        conn.execute(sql.SQL("alter role {} login").format(sql.Identifier(role)))
        return False
    conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    return True


def _run(conn: psycopg.Connection, template: str, **names: str) -> None:
    conn.execute(sql.SQL(template).format(**{k: sql.Identifier(v) for k, v in names.items()}))


def _grant_loader(conn: psycopg.Connection) -> None:
    _run(conn, "grant usage on schema {s} to {r}", s=LANDING_SCHEMA, r=LOADER)
    for table in LANDING_APPEND_TABLES:
        conn.execute(
            sql.SQL("grant insert on {} to {}").format(
                sql.Identifier(LANDING_SCHEMA, table), sql.Identifier(LOADER)
            )
        )
    conn.execute(
        sql.SQL("grant select, insert, update on {} to {}").format(
            sql.Identifier(LANDING_SCHEMA, OFFSETS_TABLE), sql.Identifier(LOADER)
        )
    )
    conn.execute(
        sql.SQL("grant usage on sequence {} to {}").format(
            sql.Identifier(LANDING_SCHEMA, BATCH_SEQUENCE), sql.Identifier(LOADER)
        )
    )
    # Every loader reads the migrations' version to know there is nothing to apply.
    _run(conn, "grant usage on schema {s} to {r}", s=SCHEMA_MIGRATIONS.schema, r=LOADER)
    conn.execute(
        sql.SQL("grant select on {} to {}").format(SCHEMA_MIGRATIONS.ident, sql.Identifier(LOADER))
    )


def _grant_transformer(conn: psycopg.Connection) -> list[str]:
    """Own the model schemas (creating them if missing) and everything in them; read raw."""
    database = conn.info.dbname
    _run(conn, "grant create, connect on database {d} to {r}", d=database, r=TRANSFORMER)
    for schema in TRANSFORMER_SCHEMAS:
        _run(conn, "create schema if not exists {s} authorization {r}", s=schema, r=TRANSFORMER)
        _run(conn, "alter schema {s} owner to {r}", s=schema, r=TRANSFORMER)
        _take_over_objects(conn, schema)
    _run(conn, "grant usage on schema {s} to {r}", s=LANDING_SCHEMA, r=TRANSFORMER)
    _run(conn, "grant select on all tables in schema {s} to {r}", s=LANDING_SCHEMA, r=TRANSFORMER)
    # Tables a later migration of the landing schema adds (run by this administrator).
    _run(
        conn,
        "alter default privileges in schema {s} grant select on tables to {r}",
        s=LANDING_SCHEMA,
        r=TRANSFORMER,
    )
    return list(TRANSFORMER_SCHEMAS)


def _take_over_objects(conn: psycopg.Connection, schema: str) -> None:
    """Hand tables, views and sequences built earlier by another role to the transformer."""
    rows = conn.execute(
        "select c.relname, c.relkind from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')"
        " and pg_get_userbyid(c.relowner) <> %s"
        " and not exists (select from pg_depend as d where d.objid = c.oid"
        " and d.deptype in ('a', 'i') and d.classid = 'pg_class'::regclass)",
        (schema, TRANSFORMER),
    ).fetchall()
    kinds = {"v": "view", "m": "materialized view", "S": "sequence", "f": "foreign table"}
    for name, kind in rows:
        conn.execute(
            sql.SQL("alter {} {} owner to {}").format(
                sql.SQL(kinds.get(kind, "table")),
                sql.Identifier(schema, name),
                sql.Identifier(TRANSFORMER),
            )
        )


def _grant_analyst(conn: psycopg.Connection) -> None:
    for schema in ANALYST_SCHEMAS:
        _run(conn, "grant usage on schema {s} to {r}", s=schema, r=ANALYST)
        _run(conn, "grant select on all tables in schema {s} to {r}", s=schema, r=ANALYST)
        _run(
            conn,
            "alter default privileges for role {o} in schema {s} grant select on tables to {r}",
            o=TRANSFORMER,
            s=schema,
            r=ANALYST,
        )
