"""The run ledger, the pipeline lock and stop handling, with stand-in stages (fast).

The tests that run the real load → dbt → checks stages are in test_scheduler_pipeline.py.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from countonce import locks
from countonce.migrate import migrate
from scheduler import ledger, status
from scheduler.pipeline import run_batch
from scheduler.stages import Stage


def _figures(**values):
    return Stage("load", lambda ctx: values)


def _sleeping(name: str, seconds: float) -> Stage:
    def run(ctx):
        with psycopg.connect(**ctx.params) as conn:
            conn.execute("select pg_sleep(%s)", (seconds,))
        return {}

    return Stage(name, run)


def _rows(conn: psycopg.Connection) -> list[dict]:
    return ledger.recent(conn, 100)


def test_a_run_is_recorded_with_its_stage_timings(settings, database, conn):
    record = run_batch(
        settings,
        database,
        stages=[_figures(rows_loaded=3, rejects_at_load=1), _sleeping("dbt", 0.2)],
    )
    assert record.status == "succeeded" and record.recorded
    (row,) = _rows(conn)
    assert row["run_id"].hex == record.run_id.replace("-", "")
    assert row["status"] == "succeeded" and row["trigger"] == "manual"
    assert row["rows_loaded"] == 3 and row["rejects_at_load"] == 1
    assert row["dbt_seconds"] >= 0.2 and row["checks_seconds"] is None
    assert row["started_at"] < row["finished_at"]


def test_a_held_lock_makes_the_run_skip_and_record_why(settings, database, conn):
    locks.lock(conn, locks.Lock.PIPELINE)
    record = run_batch(settings, database, trigger="schedule", stages=[_figures()])
    assert record.status == "skipped"
    assert "pipeline lock" in record.error
    (row,) = _rows(conn)
    assert row["status"] == "skipped" and row["trigger"] == "schedule"
    locks.unlock(conn, locks.Lock.PIPELINE)
    assert run_batch(settings, database, stages=[_figures()]).status == "succeeded"


def test_a_failing_stage_fails_the_run_and_skips_the_rest(settings, database, conn):
    def broken(ctx):
        raise RuntimeError("model exploded")

    ran = []
    record = run_batch(
        settings,
        database,
        stages=[Stage("dbt", broken), Stage("checks", lambda ctx: ran.append(1) or {})],
    )
    assert record.status == "failed" and not record.retryable
    assert record.error == "dbt: model exploded"
    assert ran == []
    (row,) = _rows(conn)
    assert row["status"] == "failed" and row["error"] == "dbt: model exploded"
    assert row["dbt_seconds"] is not None and row["checks_seconds"] is None


def test_failed_checks_give_checks_failed(settings, database):
    record = run_batch(
        settings, database, stages=[Stage("checks", lambda ctx: {"checks_failed": 2})]
    )
    assert record.status == "checks_failed" and record.checks_failed == 2


def test_stop_cancels_the_running_query_and_records_interrupted(settings, database, conn):
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    record = run_batch(settings, database, stop=stop, stages=[_sleeping("load", 60)])
    assert time.monotonic() - started < 5
    assert record.status == "interrupted" and record.error == "stopped during stage load"
    (row,) = _rows(conn)
    assert row["status"] == "interrupted"
    active = conn.execute(
        "select count(*) from pg_stat_activity where query like 'select pg_sleep%%'"
        " and datname = current_database() and state = 'active'"
    ).fetchone()[0]
    assert active == 0


def test_an_unreachable_database_fails_retryably(settings):
    params = {"host": "127.0.0.1", "port": "1", "user": "nobody", "dbname": "nothing"}
    record = run_batch(settings, params, stages=[_figures()])
    assert record.status == "failed" and record.retryable and not record.recorded
    assert "cannot connect to PostgreSQL" in record.error


def test_rows_left_running_by_a_dead_process_are_closed(settings, database, conn):
    migrate(conn)
    dead = ledger.RunRecord(trigger="schedule", started_at=ledger_now(conn))
    ledger.save(conn, dead)
    run_batch(settings, database, stages=[_figures()])
    statuses = {row["run_id"].hex: row["status"] for row in _rows(conn)}
    assert statuses[dead.run_id.replace("-", "")] == "interrupted"


def test_status_renders_runs_and_json(settings, database, conn):
    run_batch(settings, database, stages=[_figures(rows_loaded=5)])
    found = status.collect(conn, 10)
    text = status.render(found)
    assert "succeeded" in text and "no check results yet" in text
    as_json = status.jsonable(found)
    assert as_json["runs"][0]["rows_loaded"] == 5
    assert isinstance(as_json["runs"][0]["started_at"], str)


def ledger_now(conn: psycopg.Connection):
    return conn.execute("select now()").fetchone()[0]


@pytest.fixture(autouse=True)
def _inbox(settings):
    settings.inbox.mkdir(parents=True, exist_ok=True)
