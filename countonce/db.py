"""Connections to PostgreSQL: a DSN, the libpq variables, or the embedded server."""

from __future__ import annotations

import getpass
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from countonce.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_USER = "postgres"
EMBEDDED_DATABASE = "countonce"


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL cannot be reached; the message says what to do."""


def connection_params(settings: Settings) -> dict[str, str]:
    """Resolve where the database is, starting the embedded server when nothing is configured."""
    if settings.database_url:
        params = {k: str(v) for k, v in conninfo_to_dict(settings.database_url).items()}
    elif settings.libpq:
        keys = {
            "PGHOST": "host",
            "PGPORT": "port",
            "PGUSER": "user",
            "PGPASSWORD": "password",
            "PGDATABASE": "dbname",
        }
        params = {keys[name]: value for name, value in settings.libpq.items()}
    else:
        return start_embedded(settings)
    params.setdefault("host", "localhost")
    params.setdefault("port", "5432")
    params.setdefault("user", getpass.getuser())
    params.setdefault("dbname", params["user"])
    return params


def connect(params: dict[str, str], **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(**params, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        where = f"{params.get('host')}:{params.get('port')}/{params.get('dbname')}"
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {where}: {str(exc).strip()}. "
            "Start it (`countonce db start` for the embedded one) or fix the PG* variables "
            "or COUNTONCE_DATABASE_URL."
        ) from exc


@contextmanager
def connection(settings: Settings, **kwargs) -> Iterator[psycopg.Connection]:
    with connect(connection_params(settings), **kwargs) as conn:
        yield conn


def _pgserver():
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")  # its lock dir falls back
    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    return pgserver


def _embedded_server(settings: Settings, cleanup_mode: str | None = None):
    pgserver = _pgserver()
    settings.home.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(settings.pgdata, cleanup_mode=cleanup_mode)


def start_embedded(settings: Settings) -> dict[str, str]:
    """Start (or find running) the embedded PostgreSQL under settings.home; return its params."""
    info = _embedded_server(settings).get_postmaster_info()
    params = {
        "host": str(info.socket_dir),
        "port": str(info.port),
        "user": EMBEDDED_USER,
        "dbname": EMBEDDED_DATABASE,
    }
    create_database(params, EMBEDDED_DATABASE)
    return params


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server; False when it was not running."""
    pgserver = _pgserver()
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(settings.pgdata)
    if info is None or not info.is_running():
        return False
    user = "pgserver" if os.geteuid() == 0 else None
    pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=settings.pgdata, user=user)
    return True


def create_database(params: dict[str, str], name: str, template: str | None = None) -> bool:
    """Create database `name` on the server of `params` if it is missing; True if created."""
    admin = {**params, "dbname": "postgres"}
    with connect(admin, autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            return False
        stmt = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            stmt += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(stmt)
        log.info("created database", extra={"database": name})
        return True


def drop_database(params: dict[str, str], name: str) -> None:
    admin = {**params, "dbname": "postgres"}
    with connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
