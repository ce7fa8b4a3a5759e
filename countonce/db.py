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


def params_from_dsn(dsn: str) -> dict[str, str]:
    """Connection parameters of a libpq connection string or postgresql:// URL."""
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError as exc:
        raise DatabaseUnavailable(f"not a connection string or URL: {dsn!r} ({exc})") from None
    return _with_defaults(params)


def connection_params(settings: Settings) -> dict[str, str]:
    """Resolve where the database is, starting the embedded server when nothing is configured."""
    if settings.database_url:
        return params_from_dsn(settings.database_url)
    if settings.libpq:
        keys = {
            "PGHOST": "host",
            "PGPORT": "port",
            "PGUSER": "user",
            "PGPASSWORD": "password",
            "PGDATABASE": "dbname",
        }
        return _with_defaults({keys[name]: value for name, value in settings.libpq.items()})
    return start_embedded(settings)


def _with_defaults(params: dict[str, str]) -> dict[str, str]:
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


def embedded_shared_buffers_mb(physical_bytes: int) -> int:
    """A quarter of the machine's memory, PostgreSQL's advice for a dedicated server, within
    128 MB (its default) and 8 GB. With the default, a history of ten million events no longer
    fits in PostgreSQL's cache and every late event's old minute is read from disk (the
    operating system's page cache cannot be relied on: some hosts reclaim it eagerly)."""
    return max(128, min(8192, physical_bytes // 4 // 2**20))


def _embedded_server(settings: Settings, cleanup_mode: str | None = None):
    pgserver = _pgserver()
    settings.home.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(settings.pgdata, cleanup_mode=cleanup_mode)
    _size_embedded_memory(pgserver, server)
    return server


def _size_embedded_memory(pgserver, server) -> None:
    """Set shared_buffers once per data directory, at its first start (one restart, before
    anything else uses it); a value set later with ALTER SYSTEM is left alone."""
    info = server.get_postmaster_info()
    params = {"host": str(info.socket_dir), "port": str(info.port), "user": EMBEDDED_USER}
    wanted = embedded_shared_buffers_mb(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    with connect({**params, "dbname": "postgres"}, autocommit=True) as conn:
        if conn.execute(
            "select 1 from pg_file_settings"
            " where name = 'shared_buffers' and sourcefile like '%postgresql.auto.conf'"
        ).fetchone():
            return
        conn.execute(sql.SQL("alter system set shared_buffers = {}").format(f"{wanted}MB"))
    _pg_ctl(pgserver, server.pgdata, "restart")
    server.ensure_postgres_running()  # its handle now points at the restarted postmaster
    log.info("sized the embedded server", extra={"shared_buffers_mb": wanted})


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
    _pg_ctl(pgserver, settings.pgdata, "stop")
    return True


def _pg_ctl(pgserver, pgdata, action: str) -> None:
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver's server user under root
    pgserver.pg_ctl(["-w", "-m", "fast", action], pgdata=pgdata, user=user)


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
