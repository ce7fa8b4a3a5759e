"""One batch from one starting state, as often as a test needs it.

The starting state is a database in which a first file of a simulated stream was landed,
built and checked, kept as a template database, and a home directory whose inbox holds the
next file and a replay of the first. Each clone is a database of its own made from the
template, and a copy of the home: the batch is then `countonce run`, a real process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from countonce import db
from ingest.simulator import SimulatorConfig, generate, read_truth
from tests.conftest import REPO, env_for
from tests.pgproxy import CuttingProxy

STEP_TIMEOUT = 300
STREAM = SimulatorConfig(
    seed=19,
    events=300,
    files=2,
    replays=1,
    rate=2.0,
    retry_rate=0.05,
    late_rate=0.05,
    disorder=0.1,
    conflict_rate=0.05,
    refund_rate=0.1,
    malformed_rate=0.02,
    number_rate=0.5,
    producers=2,
)
FIRST_FILE = "events-0001.jsonl"


@dataclass
class Start:
    """The starting state: a template database and a home directory with its inbox."""

    pg_server: object
    template: str
    home: Path
    files: list[Path]
    truth: dict
    statements: list[str] = field(default_factory=list)

    def clone(self, root: Path, tablespace: str | None = None) -> Clone:
        name = f"t_cut_{uuid.uuid4().hex[:10]}"
        # FILE_COPY, not the default WAL_LOG: a sequence's page copied through WAL keeps its
        # count of values fetched ahead without WAL of their own, so after a server crash the
        # clone's identity columns would go back to where the template's were (PostgreSQL
        # 16.2). FILE_COPY checkpoints, after which the clone's sequences log afresh.
        statement = sql.SQL("create database {} template {} strategy file_copy").format(
            sql.Identifier(name), sql.Identifier(self.template)
        )
        if tablespace:
            statement += sql.SQL(" tablespace {}").format(sql.Identifier(tablespace))
        with psycopg.connect(**self.pg_server.params, autocommit=True) as conn:
            conn.execute(statement)
        home = root / name
        shutil.copytree(self.home, home)
        return Clone(self.pg_server, name, home)


@dataclass
class Clone:
    pg_server: object
    name: str
    home: Path
    runs: int = 0

    @property
    def params(self) -> dict[str, str]:
        return {**self.pg_server.params, "dbname": self.name}

    def env(self, proxy: CuttingProxy | None = None) -> dict[str, str]:
        params = self.params if proxy is None else {**self.params, **proxy.dsn_params}
        return env_for(params, self.home / ".countonce")

    def start(self, env: dict[str, str], *args: str) -> subprocess.Popen:
        """`countonce ARGS` (default: `run --json`) as its own process group."""
        self.runs += 1
        out = (self.home / f"run-{self.runs}.out").open("w")
        err = (self.home / f"run-{self.runs}.log").open("w")
        with out, err:
            return subprocess.Popen(
                [sys.executable, "-m", "countonce", *(args or ("run", "--json"))],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=err,
                start_new_session=True,  # SIGKILL reaches the checks process too
            )

    def run(self, env: dict[str, str], *args: str) -> tuple[int, dict | None]:
        """Run `countonce ARGS` to its end: its exit code and its JSON output, if any."""
        code = self.start(env, *args).wait(timeout=STEP_TIMEOUT)
        out = (self.home / f"run-{self.runs}.out").read_text()
        try:
            return code, json.loads(out)
        except json.JSONDecodeError:
            return code, None

    def last_log(self) -> str:
        return (self.home / f"run-{self.runs}.log").read_text()[-4000:]

    def drop(self) -> None:
        try:
            db.drop_database(self.pg_server.params, self.name)
        except db.DatabaseUnavailable:
            pass


def upstream(pg_server) -> tuple[str, int] | str:
    host, port = pg_server.params["host"], int(pg_server.params["port"])
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)


@contextmanager
def starting_state(pg_server, root: Path) -> Iterator[Start]:
    """Batch one landed, built and checked; batch two (the next file, a replay) waiting."""
    generated = generate(root / "generated", STREAM)
    template = f"t_cut_start_{uuid.uuid4().hex[:8]}"
    db.create_database(pg_server.params, template, template="template0")
    home = root / "home"
    inbox = home / ".countonce" / "inbox"
    inbox.mkdir(parents=True)
    shutil.copy(root / "generated" / FIRST_FILE, inbox)
    first = Clone(pg_server, template, home)
    code, record = first.run(first.env())
    assert code == 0 and record["status"] == "succeeded", first.last_log()
    for path in generated.files:
        if path.name != FIRST_FILE:
            shutil.copy(path, inbox)
    for log in home.glob("run-*"):
        log.unlink()
    files = [inbox / path.name for path in generated.files]
    try:
        yield Start(pg_server, template, home, files, read_truth(root / "generated" / "truth.csv"))
    finally:
        first.drop()
