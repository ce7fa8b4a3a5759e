"""Batch runs with the real stages (loader, dbt build, checks) against a real PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from countonce.settings import PROJECT_ROOT, libpq_variables, load_settings
from scheduler import ledger
from scheduler.pipeline import run_batch
from scheduler.stages import STAGES, Stage
from tests.conftest import env_for


def five_minutes_ago() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)


def write_events(
    path: Path, count: int, *, prefix: str, duplicates: int = 0, minute: datetime | None = None
) -> int:
    """Write `count` paid events (plus re-sent copies of the first `duplicates`) in one minute
    (default: five minutes ago); return lines."""
    minute = minute or five_minutes_ago()
    events = [
        {
            "event_id": f"{prefix}-e{i}",
            "order_id": f"{prefix}-o{i}",
            "event_type": "paid",
            "amount": f"{i % 50 + 1}.25",
            "currency": "USD",
            "event_time": (minute + timedelta(seconds=i % 60)).isoformat(),
        }
        for i in range(count)
    ]
    lines = [json.dumps(e) for e in events + events[:duplicates]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def fact_total(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "select coalesce(sum(gross_paid_amount), 0), coalesce(sum(paid_event_count), 0)"
        " from analytics.fact_revenue_1m"
    ).fetchone()


def test_a_batch_loads_builds_checks_and_is_recorded(settings, database, conn, cli):
    write_events(settings.inbox / "a.jsonl", 20, prefix="a", duplicates=3)
    record = run_batch(settings, database, trigger="manual")
    assert record.status == "succeeded", record.error
    assert record.lines_read == 23 and record.rows_loaded == 23
    assert record.duplicates_absorbed == 3
    assert record.checks_failed == 0
    assert fact_total(conn)[1] == 20
    (row,) = ledger.recent(conn)
    assert row["status"] == "succeeded"
    assert all(row[f"{s}_seconds"] is not None for s in ledger.STAGES)

    shown = json.loads(cli("status", "--json", check=True).stdout)
    assert shown["runs"][0]["status"] == "succeeded"
    assert shown["checks"], "the latest check status is shown"


def test_a_batch_is_recorded_as_processed_only_when_its_checks_pass(settings, database, conn):
    # Both files in one minute: the healing run recomputes the minutes of its batch only, and
    # the fault below touches every minute of the fact.
    minute = five_minutes_ago()
    write_events(settings.inbox / "a.jsonl", 20, prefix="a", minute=minute)
    first = run_batch(settings, database)
    assert first.status == "succeeded" and first.load_batches_processed == 1
    processed = "select count(*) from ops.processed_batches"
    assert conn.execute(processed).fetchone() == (1,)

    # A fault between the build and the checks (the fact's minutes of the new batch made
    # wrong): its checks fail and its batch stays unrecorded...
    def corrupt_the_fact(ctx):
        with psycopg.connect(**ctx.params, autocommit=True) as c:
            c.execute(
                "update analytics.fact_revenue_1m set gross_paid_amount = gross_paid_amount + 1,"
                " net_amount = net_amount + 1"
            )
        return {}

    write_events(settings.inbox / "b.jsonl", 20, prefix="b", minute=minute)
    load, build, checks = STAGES
    broken = run_batch(
        settings, database, stages=[load, build, Stage("load", corrupt_the_fact), checks]
    )
    assert broken.status == "checks_failed" and broken.load_batches_processed is None
    assert conn.execute(processed).fetchone() == (1,)
    failed = conn.execute(
        "select expectation from dq.check_results"
        " where run_id = %s and severity = 'critical' and not success",
        (broken.run_id,),
    ).fetchall()
    assert ("fact_matches_recomputation",) in failed

    # ...so the run after it processes that batch again: its minutes are recomputed from the
    # history, the fault is gone, and the batch is recorded.
    healed = run_batch(settings, database)
    assert healed.status == "succeeded", healed.error
    assert healed.load_batches_processed == 1
    assert conn.execute(processed).fetchone() == (2,)
    paid = sum(Decimal(f"{i % 50 + 1}.25") for i in range(20))
    assert fact_total(conn) == (2 * paid, 40)


def test_a_batch_run_skips_unchanged_views_and_rebuilds_a_dropped_one(settings, database, conn):
    from scheduler import full_build

    write_events(settings.inbox / "a.jsonl", 5, prefix="a")
    assert not full_build.per_batch_is_enough(settings, database)
    assert run_batch(settings, database).status == "succeeded"
    assert full_build.per_batch_is_enough(settings, database)
    views = "select count(*) from pg_views where schemaname in ('staging', 'reconciliation')"
    (count,) = conn.execute(views).fetchone()
    created = conn.execute("select max(xmin::text::bigint) from pg_class").fetchone()[0]

    write_events(settings.inbox / "b.jsonl", 5, prefix="b")
    assert run_batch(settings, database).status == "succeeded"
    assert conn.execute(views).fetchone() == (count,)
    rebuilt = conn.execute(
        "select count(*) from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname in ('staging', 'reconciliation') and c.relkind = 'v'"
        " and c.xmin::text::bigint > %s",
        (created,),
    ).fetchone()
    assert rebuilt == (0,), "a warm build leaves the views alone"

    # A view dropped behind the scheduler's back (an analyst's full refresh of a model drops
    # the views that read it): the next run notices and builds everything.
    conn.execute("drop view staging.stg_shopflow__order_events cascade")
    assert not full_build.per_batch_is_enough(settings, database)
    write_events(settings.inbox / "c.jsonl", 5, prefix="c")
    healed = run_batch(settings, database)
    assert healed.status == "succeeded", healed.error
    assert conn.execute(views).fetchone() == (count,)
    assert fact_total(conn)[1] == 15

    # A changed project, or a changed variable the project reads: every model again.
    changed = load_settings(
        {**env_for(database, settings.home), "COUNTONCE_LOOKBACK_MINUTES": "30"}
    )
    assert not full_build.per_batch_is_enough(changed, database)


def test_a_failing_dbt_model_fails_the_run_and_skips_the_checks(env, database, conn, tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs")
    )
    broken = next(project.glob("models/marts/**/fact_revenue_1m.sql"))
    broken.write_text(broken.read_text() + "\nthis is not sql\n")
    settings = load_settings({**env, "COUNTONCE_DBT_PROJECT_DIR": str(project)})
    write_events(settings.inbox / "a.jsonl", 5, prefix="f")

    record = run_batch(settings, database)

    assert record.status == "failed"
    assert "fact_revenue_1m" in record.error
    (row,) = ledger.recent(conn)
    assert row["status"] == "failed" and "fact_revenue_1m" in row["error"]
    assert row["load_seconds"] is not None and row["dbt_seconds"] is not None
    assert row["checks_seconds"] is None and row["checks_failed"] is None
    checked = conn.execute("select to_regclass('dq.check_runs') is not null").fetchone()[0]
    if checked:
        assert conn.execute(
            "select count(*) from dq.check_runs where run_id = %s", (record.run_id,)
        ).fetchone() == (0,)


@pytest.fixture
def inbox(settings) -> Path:
    settings.inbox.mkdir(parents=True, exist_ok=True)
    return settings.inbox


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.slow
def test_an_analysts_dbt_build_during_a_run_never_corrupts_the_fact(
    settings, env, database, conn, tmp_path
):
    write_events(settings.inbox / "a.jsonl", 3000, prefix="c", duplicates=100)
    project = str(PROJECT_ROOT / "dbt_project")
    analyst_env = {
        **{k: v for k, v in env.items() if not k.startswith("COUNTONCE_")},
        **libpq_variables(database),
    }
    with (tmp_path / "analyst.log").open("w") as out:
        analyst = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dbt")),
                "build",
                "--project-dir",
                project,
                "--profiles-dir",
                project,
                "--target-path",
                str(tmp_path / "analyst-target"),
                "--log-path",
                str(tmp_path / "analyst-logs"),
            ],
            env=analyst_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        scheduled = run_batch(settings, database, trigger="schedule")
        analyst.wait(timeout=300)
    # At worst one of them failed, with an error; the next run heals everything.
    assert scheduled.status in ("succeeded", "failed"), scheduled.error
    healed = run_batch(settings, database, trigger="schedule")
    assert healed.status == "succeeded", healed.error
    expected = sum(Decimal(f"{i % 50 + 1}.25") for i in range(3000))
    assert fact_total(conn) == (expected, 3000)
