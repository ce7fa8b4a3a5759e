"""Fixtures: a real PostgreSQL for the session, and a database of its own for each test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from countonce import db
from countonce.settings import Settings, child_environment, load_settings

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    # `make test-soak` sets COUNTONCE_SOAK=N: the reliability property draws N fault schedules.
    parser.addoption(
        "--soak",
        type=int,
        default=int(os.environ.get("COUNTONCE_SOAK") or 0),
        help="fault schedules for tests/integration/test_reliability_*.py (0: the default few)",
    )


class Server:
    """The PostgreSQL the tests use; `stop`/`start` work only on the embedded one."""

    def __init__(self, params: dict[str, str], pgdata: Path | None) -> None:
        self.params = params
        self.pgdata = pgdata

    @property
    def embedded(self) -> bool:
        return self.pgdata is not None

    def _pg_ctl(self, *args: str) -> None:
        import pgserver

        if not self.embedded:
            pytest.skip("needs the embedded server: an external DSN cannot be stopped")
        user = "pgserver" if os.geteuid() == 0 else None
        pgserver.pg_ctl(["-w", *args], pgdata=self.pgdata, user=user)

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def crash(self) -> None:
        """SIGKILL the postmaster and every server process, as a power cut would; `start`
        then runs PostgreSQL's crash recovery."""
        if not self.embedded:
            pytest.skip("needs the embedded server: an external DSN cannot be killed")
        postmaster = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        victims = [postmaster, *_children(postmaster)]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in victims):
            if time.monotonic() > deadline:
                raise AssertionError("the server's processes outlived SIGKILL")
            time.sleep(0.05)
        # A killed postmaster may linger as a zombie until its parent reaps it, and the
        # server refuses to start while the PID in its lock files exists.
        socket_lock = Path(self.params["host"]) / f".s.PGSQL.{self.params['port']}.lock"
        for lock in (self.pgdata / "postmaster.pid", socket_lock):
            lock.unlink(missing_ok=True)

    def start(self) -> None:
        sock = self.params["host"]
        self._pg_ctl("-o", '-h ""', "-o", f"-k {sock}", "-l", str(self.pgdata / "log"), "start")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    configured = load_settings()
    if not configured.embedded:
        return Server(db.connection_params(configured), None)
    home = tmp_path_factory.mktemp("pg")
    settings = load_settings({"COUNTONCE_HOME": str(home)})
    server = db.embedded_server(settings, cleanup_mode="delete")
    info = server.get_postmaster_info()
    params = {
        "host": str(info.socket_dir),
        "port": str(info.port),
        "user": "postgres",
        "dbname": "postgres",
    }
    return Server(params, settings.pgdata)


@contextmanager
def own_database(server: Server, prefix: str = "t") -> Iterator[dict[str, str]]:
    """Connection params of a new, empty database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    db.create_database(server.params, name, template="template0")
    try:
        yield {**server.params, "dbname": name}
    finally:
        try:
            db.drop_database(server.params, name)
        except db.DatabaseUnavailable:
            pass


@pytest.fixture
def database(pg_server: Server) -> dict[str, str]:
    """Connection params of a new, empty database that only this test sees."""
    with own_database(pg_server) as params:
        yield params


@pytest.fixture
def env(database: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Environment for `countonce` subprocesses and for load_settings(), pointed at the test db."""
    return env_for(database, tmp_path / ".countonce")


def env_for(params: dict[str, str], home: Path) -> dict[str, str]:
    """Like the `env` fixture, for a database a test (or a module, or an example) made itself."""
    return child_environment(
        {"COUNTONCE_DATABASE_URL": make_conninfo(**params), "COUNTONCE_HOME": str(home)}
    )


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def conn(database: dict[str, str]) -> psycopg.Connection:
    with psycopg.connect(**database, autocommit=True) as connection:
        yield connection


@pytest.fixture
def migrated(conn: psycopg.Connection) -> psycopg.Connection:
    """A connection to the test database with the landing schema in place."""
    from countonce.migrate import migrate

    migrate(conn)
    return conn


def run_cli(
    env: dict[str, str],
    *args: str,
    check: bool = False,
    input: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run `countonce ARGS` as its own process, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "countonce", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"countonce {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def cli(env: dict[str, str]):
    """`cli("ingest", path)` runs countonce in a subprocess against the test database."""

    def call(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_cli(env, *args, **kwargs)

    return call
