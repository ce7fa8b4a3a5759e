"""The same project on Apache Spark (local mode, parquet tables): the same stream gives the
same fact as on PostgreSQL, to the cent and equal to the generator's truth; a replay and a
full refresh change nothing; a build killed between two models heals on the next run; each
break that fails a critical check on PostgreSQL fails it on Spark.

One Spark session serves this process (its warehouse and metastore are fixed when it
starts), so these tests share one Spark home, emptied between them where they need it. The
killed build runs in subprocesses on a Spark home of its own.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from test_checks_breaks import BREAKS, EVENTS, failed, write_lines
from test_models_support import FACT_VALUES, fact

from countonce import dbt, relations, spark
from countonce.migrate import migrate_spark
from countonce.settings import child_environment, load_settings
from expectations.checks import run_checks
from expectations.suites import WARNING
from ingest.loader import load
from ingest.simulator import SimulatorConfig, generate, read_dropped, read_truth
from scheduler.spark_runs import SparkRuns
from tests.conftest import REPO, own_database

pytestmark = pytest.mark.spark

STREAM = SimulatorConfig(
    seed=11,
    events=1500,
    files=3,
    replays=1,
    retry_rate=0.05,
    conflict_rate=0.02,
    producers=2,
    drop_rate=0.01,
)
GAPS = f"select producer_id, first_missing, last_missing from {relations.PRODUCER_GAPS}"
SCHEMAS = (*relations.APPLICATION_SCHEMAS, *relations.DBT_SCHEMAS, "spark_backup")


@pytest.fixture(scope="module")
def spark_settings(tmp_path_factory):
    home = tmp_path_factory.mktemp("spark_home")
    return load_settings({"COUNTONCE_HOME": str(home), "COUNTONCE_TARGET": "spark"})


@pytest.fixture
def empty_spark(spark_settings):
    """The shared Spark home with no table and no file in it."""
    session = spark.session(spark_settings)
    for schema in SCHEMAS:
        session.sql(f"drop database if exists {schema} cascade")
    shutil.rmtree(spark_settings.spark_dir / "tables", ignore_errors=True)
    shutil.rmtree(spark_settings.home / "dbt", ignore_errors=True)
    return spark_settings


def build(settings, *extra: str) -> None:
    """dbt build, then the build's scope recorded as processed, as a batch run does."""
    from dbt_common.invocation import get_invocation_id

    migrate_spark(settings)
    dbt.build(settings, {}, list(extra))
    runs = SparkRuns(settings)
    try:
        runs.record_processed(str(uuid.uuid4()), get_invocation_id())
    finally:
        runs.close()


def spark_rows(settings, query: str) -> list[tuple]:
    session = spark.session(settings)
    spark.refresh_landing(session, settings)
    return [tuple(row) for row in session.sql(query).collect()]


def spark_fact(settings) -> dict[tuple, tuple]:
    rows = spark_rows(
        settings, f"select minute, currency, {', '.join(FACT_VALUES)} from {relations.FACT}"
    )
    return {(row[0].replace(tzinfo=UTC), row[1]): tuple(row[2:]) for row in rows}


def truth_of(stream: Path) -> dict[tuple, tuple]:
    return {
        key: tuple(row[c] for c in ("gross_paid_amount", "refunded_amount", "net_amount"))
        + (row["paid_event_count"], row["refund_event_count"])
        for key, row in read_truth(stream / "truth.csv").items()
    }


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    out = tmp_path_factory.mktemp("spark_stream")
    return generate(out / "stream", STREAM)


def test_the_same_stream_gives_the_same_fact_on_both_engines_and_the_truth(
    empty_spark, stream, pg_server, tmp_path
):
    settings = empty_spark
    files = [str(path) for path in stream.files]
    with own_database(pg_server, "t_spark") as params:
        pg_settings = load_settings({"COUNTONCE_HOME": str(tmp_path / "pg")})
        for path in files:
            load(pg_settings, params, [path])
            dbt.build(pg_settings, params)
        with psycopg.connect(**params) as conn:
            on_postgres = fact(conn)
            pg_unmatched = conn.execute(
                "select count(*) from reconciliation.recon_revenue_1m_full where not is_match"
            ).fetchone()[0]
            pg_gaps = sorted(conn.execute(GAPS).fetchall())

    # On Spark in two builds, the second incremental over the first.
    load(settings, {}, files[:2])
    build(settings)
    load(settings, {}, files[2:])
    build(settings)
    on_spark = spark_fact(settings)

    assert pg_unmatched == 0
    assert on_spark == on_postgres == truth_of(stream.files[0].parent)
    assert (
        spark_rows(settings, f"select * from {relations.LEDGER_BY_BATCH} where not is_balanced")
        == []
    )
    assert spark_rows(
        settings, f"select count(*) from {relations.REVENUE_RECONCILIATION_FULL} where not is_match"
    ) == [(0,)]
    conflicts = spark_rows(
        settings,
        f"select count(distinct order_id, event_id) from {relations.CONFLICTS}"
        " where kept_amount <> conflicting_amount",
    )
    assert conflicts == [(stream.conflicts,)]
    lost = read_dropped(stream.files[0].parent / "dropped.csv")
    assert sorted(spark_rows(settings, GAPS)) == pg_gaps
    highest = dict(
        spark_rows(
            settings, f"select producer_id, highest_sequence from {relations.PRODUCER_COMPLETENESS}"
        )
    )
    found = {(p, n) for p, a, b in pg_gaps for n in range(a, b + 1)}
    assert found == {
        (p, n) for p, lost_numbers in lost.items() for n in lost_numbers if n < highest[p]
    }
    assert found

    # A replay of every file, landed again as new batches: nothing changes.
    for index, path in enumerate(stream.files):
        replayed = path.with_name(f"again-{index}-{path.name}")
        shutil.copyfile(path, replayed)
        load(settings, {}, [str(replayed)])
    kept_before = spark_rows(settings, f"select count(*) from {relations.DEDUPLICATED}")
    build(settings)
    assert spark_fact(settings) == on_postgres
    assert spark_rows(settings, f"select count(*) from {relations.DEDUPLICATED}") == kept_before
    assert sorted(spark_rows(settings, GAPS)) == pg_gaps

    # A full refresh recomputes every partition from landing: the same rows.
    build(settings, "--full-refresh")
    assert spark_fact(settings) == on_postgres
    assert spark_rows(settings, f"select count(*) from {relations.DEDUPLICATED}") == kept_before
    assert sorted(spark_rows(settings, GAPS)) == pg_gaps


def test_countonce_sql_prints_the_fact_as_csv(empty_spark, tmp_path):
    from click.testing import CliRunner

    from countonce.cli import main_group as main

    settings = empty_spark
    load(settings, {}, [str(write_lines(tmp_path / "events.jsonl", EVENTS))])
    build(settings)
    env = {"COUNTONCE_HOME": str(settings.home), "COUNTONCE_TARGET": "spark"}
    result = CliRunner().invoke(
        main,
        ["sql", f"select minute, currency, net_amount from {relations.FACT} order by 1, 2"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["minute", "currency", "net_amount"]
    assert rows[1] == ["2026-11-26 10:01:00+00:00", "USD", "65.00"]
    refused = CliRunner().invoke(main, ["sql", f"drop table {relations.FACT}"], env=env)
    assert refused.exit_code != 0 and "only a query" in refused.output


# How each break of tests/integration/test_checks_breaks.py is made on parquet tables, which
# take no UPDATE or DELETE: the table is rewritten from a copy taken before. Each entry: the
# table, then what its rows become (the copy's columns, some replaced; `where` keeps rows;
# `extra` adds rows).
SPARK_BREAKS: dict[str, tuple[relations.Relation, dict[str, str]]] = {
    "duplicate_row_forced_into_fact": (
        relations.FACT,
        {"extra": "currency = 'USD' and minute = timestamp'2026-11-26 10:01:00'"},
    ),
    "one_minute_revenue_changed": (
        relations.FACT,
        {
            "when": "minute = timestamp'2026-11-26 10:04:00'",
            "gross_paid_amount": "gross_paid_amount + 0.01",
            "net_amount": "net_amount + 0.01",
        },
    ),
    "one_minute_refund_changed": (
        relations.FACT,
        {
            "when": "minute = timestamp'2026-11-26 10:03:00'",
            "refunded_amount": "9",
            "net_amount": "-9",
        },
    ),
    "null_amount_in_fact": (
        relations.FACT,
        {"when": "minute = timestamp'2026-11-26 10:01:00'", "refunded_amount": "null"},
    ),
    "misaligned_minute_in_fact": (
        relations.FACT,
        {
            "when": "minute = timestamp'2026-11-26 10:02:00'",
            "minute": "minute + interval 30 seconds",
        },
    ),
    "duplicate_key_forced_into_deduplicated": (
        relations.DEDUPLICATED,
        {"extra": "event_id = 'evt-a01'"},
    ),
    "null_key_in_deduplicated": (
        relations.DEDUPLICATED,
        {"when": "order_id = 'o-1002' and event_type = 'created'", "event_id": "null"},
    ),
    "landed_row_deleted_from_ledger_view": (
        relations.LANDING,
        {
            "where": "not (record_fields['event_id'] = 'evt-9f3' and landing_seq = (select"
            " max(landing_seq) from spark_backup.order_events"
            " where record_fields['event_id'] = 'evt-9f3'))"
        },
    ),
    "kept_row_deleted_from_deduplicated": (
        relations.DEDUPLICATED,
        {"where": "event_id <> 'evt-a01'"},
    ),
}


def rewrite(session, table: relations.Relation, change: dict[str, str]) -> None:
    backup = f"spark_backup.{table.name}"
    columns = session.table(backup).columns
    when = change.get("when", "true")
    select = ", ".join(
        f"case when {when} then {change[c]} else {c} end as {c}" if c in change else c
        for c in columns
    )
    query = f"select {select} from {backup} where {change.get('where', 'true')}"
    if "extra" in change:
        query += f" union all select * from {backup} where {change['extra']}"
    session.sql(f"insert overwrite table {table} {query}")


def restore(session, table: relations.Relation) -> None:
    session.sql(f"insert overwrite table {table} select * from spark_backup.{table.name}")


def test_each_break_fails_the_same_checks_on_spark_as_on_postgresql(empty_spark, tmp_path):
    settings = empty_spark
    load(settings, {}, [str(write_lines(tmp_path / "events.jsonl", EVENTS, ("not json",)))])
    build(settings)
    report = run_checks(settings, {})
    assert report.success, report.as_dict()
    assert failed(report, WARNING) == {"no_conflicting_duplicates", "reject_rate_within_threshold"}
    conflict = next(r for r in report.results if r.expectation == "no_conflicting_duplicates")
    assert conflict.offending_rows[0]["conflicting_amount"] == Decimal("11.50")
    assert report.scope_batches >= 1 and report.scope_minutes == 4

    session = spark.session(settings)
    session.sql("create database if not exists spark_backup")
    for table in {relations.FACT, relations.DEDUPLICATED, relations.LANDING}:
        session.sql(
            f"create table spark_backup.{table.name} using parquet as select * from {table}"
        )
    assert set(SPARK_BREAKS) == set(BREAKS)
    for name, (table, change) in SPARK_BREAKS.items():
        rewrite(session, table, change)
        broken = run_checks(settings, {}, data_docs=False)
        assert failed(broken) == BREAKS[name][2], name
        for result in broken.results:
            if result.expectation in BREAKS[name][2]:
                assert result.offending_rows, f"{name}: {result.expectation} names what it found"
        restore(session, table)
    assert run_checks(settings, {}, data_docs=False).success

    results = spark_rows(settings, "select count(distinct run_id), count(*) from dq.check_results")
    checks = len(broken.results)
    assert checks == 14
    assert results == [(len(SPARK_BREAKS) + 2, checks * (len(SPARK_BREAKS) + 2))]


def _countonce(env: dict[str, str], *args: str) -> subprocess.Popen:
    """A countonce process in a session of its own: killing the session kills its JVM too,
    as a machine that loses power would."""
    return subprocess.Popen(
        [sys.executable, "-m", "countonce", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {text!r}: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in {path} within {timeout} s")


def test_a_run_killed_between_two_models_heals_on_the_next_run(stream, tmp_path):
    home = tmp_path / "killed"
    env = child_environment({"COUNTONCE_HOME": str(home), "COUNTONCE_TARGET": "spark"})
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    first, *rest = stream.files
    shutil.copyfile(first, inbox / first.name)
    done = _countonce(env, "run")
    assert done.wait(600) == 0, done.communicate()

    for path in rest:
        shutil.copyfile(path, inbox / path.name)
    log = home / "dbt" / "logs" / "dbt.log"
    log.write_text("")
    killed = _countonce(env, "run")
    _wait_for(log, "model intermediate.int_order_events_deduplicated", killed, 600)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate()

    healed = _countonce(env, "run")
    output = healed.communicate(timeout=600)
    assert healed.returncode == 0, output
    query = f"select minute, currency, {', '.join(FACT_VALUES)} from {relations.FACT}"
    printed = _countonce(env, "sql", query)
    out, _ = printed.communicate(timeout=300)
    assert printed.returncode == 0, out
    rows = list(csv.reader(io.StringIO(out)))
    on_spark = {
        (datetime.fromisoformat(r[0]), r[1]): (
            Decimal(r[2]),
            Decimal(r[3]),
            Decimal(r[4]),
            int(r[5]),
            int(r[6]),
        )
        for r in rows[1:]
    }
    assert on_spark == truth_of(first.parent)

    runs = _countonce(env, "sql", "select status from ops.pipeline_runs order by started_at")
    out, _ = runs.communicate(timeout=300)
    assert out.strip().splitlines()[-3:] == ["succeeded", "interrupted", "succeeded"]


def test_postgresql_only_commands_say_so_on_spark(tmp_path):
    env = child_environment({"COUNTONCE_HOME": str(tmp_path), "COUNTONCE_TARGET": "spark"})
    result = subprocess.run(
        [sys.executable, "-m", "countonce", "status"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "PostgreSQL only" in result.stderr and "ops.pipeline_runs" in result.stderr
