"""`countonce run` / `countonce schedule` as real processes: signals, two schedulers, outages."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from scheduler import ledger
from scheduler.pipeline import run_batch
from tests.conftest import REPO
from tests.integration.test_scheduler_pipeline import fact_total, wait_for, write_events


class Countonce:
    """A `countonce ...` process whose stderr goes to a file (shown when a test fails)."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "countonce", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )

    def stop(self, timeout: float = 10) -> tuple[int, float]:
        """SIGTERM; return the exit status and the seconds it took to exit."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"did not exit within {timeout}s:\n{self.output()}") from None
        return code, time.monotonic() - started

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def processes():
    started: list[Countonce] = []
    yield started
    for process in started:
        process.kill()


def runs(database: dict[str, str]) -> list[dict]:
    """The ledger, oldest first; [] while the database is unreachable."""
    try:
        with psycopg.connect(**database, connect_timeout=2) as conn:
            return list(reversed(ledger.recent(conn, 1000)))
    except psycopg.OperationalError:
        return []


def paid_events(database: dict[str, str]) -> int | None:
    try:
        with psycopg.connect(**database, connect_timeout=2) as conn:
            return fact_total(conn)[1]
    except psycopg.Error:
        return None


def test_sigterm_mid_run_records_interrupted_and_exits_0(env, database, settings, processes):
    write_events(settings.inbox / "a.jsonl", 2000, prefix="s")
    run = Countonce(env, settings.home.parent / "run.log", "run")
    processes.append(run)

    def past_the_load():
        return [r for r in runs(database) if r["status"] == "running" and r["load_seconds"]]

    wait_for(past_the_load, 120, "the run to finish loading")
    code, seconds = run.stop()

    assert code == 0, run.output()
    assert seconds < 6, run.output()
    (row,) = runs(database)
    assert row["status"] == "interrupted", run.output()
    assert row["error"].startswith("stopped during stage"), row["error"]
    assert row["finished_at"] is not None

    with psycopg.connect(**database, autocommit=True) as conn:
        assert conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database()"
            " and state = 'active' and pid <> pg_backend_pid()"
        ).fetchone() == (0,)
        healed = run_batch(settings, database)
        assert healed.status == "succeeded", healed.error
        assert fact_total(conn)[1] == 2000


def test_two_schedulers_never_overlap(env, database, settings, processes, tmp_path):
    write_events(settings.inbox / "a.jsonl", 300, prefix="p", duplicates=10)
    first = Countonce(env, tmp_path / "first.log", "schedule", "--every", "1")
    second = Countonce(env, tmp_path / "second.log", "schedule", "--every", "1")
    processes.extend([first, second])

    def enough():
        rows = runs(database)
        done = [r for r in rows if r["status"] not in ("skipped", "running")]
        return len(done) >= 2 and any(r["status"] == "skipped" for r in rows)

    wait_for(enough, 180, "two runs and a skip")
    write_events(settings.inbox / "b.jsonl", 100, prefix="q")
    wait_for(lambda: paid_events(database) == 400, 120, "a run that counts b.jsonl")
    for process in (first, second):
        code, _ = process.stop()
        assert code == 0, process.output()

    rows = runs(database)
    assert {r["pid"] for r in rows} == {first.proc.pid, second.proc.pid}
    assert not [r for r in rows if r["status"] == "running"]
    ran = sorted((r for r in rows if r["status"] != "skipped"), key=lambda r: r["started_at"])
    for earlier, later in zip(ran, ran[1:], strict=False):
        assert earlier["finished_at"] <= later["started_at"], (earlier, later)
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert all("pipeline lock" in r["error"] for r in skipped)
    assert sum(r["rows_loaded"] or 0 for r in ran) == 410


def test_the_scheduler_survives_a_database_restart_and_catches_up(
    env, database, settings, pg_server, processes, tmp_path
):
    if not pg_server.embedded:
        pytest.skip("needs the embedded server: an external database cannot be stopped")
    write_events(settings.inbox / "a.jsonl", 50, prefix="r")
    scheduler = Countonce(env, tmp_path / "schedule.log", "schedule", "--every", "2")
    processes.append(scheduler)
    wait_for(lambda: [r for r in runs(database) if r["status"] == "succeeded"], 120, "a first run")

    pg_server.stop()
    try:
        wait_for(
            lambda: "cannot connect to PostgreSQL" in scheduler.output(), 30, "a failed attempt"
        )
        write_events(settings.inbox / "b.jsonl", 30, prefix="t")
    finally:
        pg_server.start()

    def caught_up():
        rows = runs(database)
        return rows and rows[-1]["status"] == "succeeded" and paid_events(database) == 80

    wait_for(caught_up, 120, "a run that loads what arrived during the outage")
    code, _ = scheduler.stop()
    assert code == 0, scheduler.output()

    rows = runs(database)
    assert [r for r in rows if r["status"] == "failed" and "cannot connect" in r["error"]]
    assert not [r for r in rows if r["status"] == "running"]
