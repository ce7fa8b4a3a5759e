"""Every critical check, broken on purpose in exactly its way: that check fails, the others
hold, and the repaired data passes. The data is real: landed by the loader, built by dbt."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from countonce import db, dbt
from countonce.demo import TRACED_LINES
from countonce.settings import load_settings
from expectations.checks import CheckReport, run_checks
from expectations.suites import CRITICAL, WARNING

SEED_PAID = TRACED_LINES[1]
EVENTS = [
    # The seed example, retried by its producer: one event, two copies.
    SEED_PAID,
    SEED_PAID,
    {
        "event_id": "evt-a01",
        "order_id": "o-1002",
        "event_type": "created",
        "event_time": "2026-11-26T10:01:30Z",
    },
    {
        "event_id": "evt-a02",
        "order_id": "o-1002",
        "event_type": "paid",
        "amount": "10.50",
        "currency": "EUR",
        "event_time": "2026-11-26T11:02:05+01:00",
    },
    # A conflicting copy: the first landed copy (10.50) counts, this one is reported.
    {
        "event_id": "evt-a02",
        "order_id": "o-1002",
        "event_type": "paid",
        "amount": "11.50",
        "currency": "EUR",
        "event_time": "2026-11-26T11:02:05+01:00",
    },
    {
        "event_id": "evt-a03",
        "order_id": "o-1002",
        "event_type": "refunded",
        "amount": "2.25",
        "currency": "EUR",
        "event_time": "2026-11-26T10:03:00Z",
    },
    {
        "event_id": "evt-b01",
        "order_id": "o-1003",
        "event_type": "paid",
        "amount": "abc",
        "currency": "USD",
        "event_time": "2026-11-26T10:04:00Z",
    },
    {
        "event_id": "evt-b02",
        "order_id": "o-1003",
        "event_type": "paid",
        "amount": 5,
        "currency": "USD",
        "event_time": "2026-11-26T10:04:59Z",
    },
    {
        "event_id": "evt-b03",
        "order_id": "o-1004",
        "event_type": "paid",
        "amount": "7.10",
        "currency": "USD",
        "event_time": "2026-11-26T10:04:10Z",
    },
    # Invalid for the models and for the checks alike: ids must be JSON strings.
    {
        "event_id": 42,
        "order_id": "o-1005",
        "event_type": "paid",
        "amount": "3.00",
        "currency": "USD",
        "event_time": "2026-11-26T10:04:30Z",
    },
]


def write_lines(path: Path, events: list[dict], extra_lines: tuple[str, ...] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*(json.dumps(e) for e in events), *extra_lines]) + "\n")
    return path


def land_and_build(settings, params: dict[str, str], path: Path) -> None:
    """Land a file and build, then record the build's scope as processed, as a batch run does
    once its checks pass: the next build's scope is what lands after."""
    from dbt_common.invocation import get_invocation_id

    from ingest.loader import load
    from scheduler.scope import record_processed

    load(settings, params, [str(path)])
    with psycopg.connect(**params, autocommit=True) as conn:
        dbt.build(settings, params)
        record_processed(conn, str(uuid.uuid4()), get_invocation_id())


@pytest.fixture(scope="module")
def built_template(pg_server, tmp_path_factory) -> str:
    """A database loaded from raw rows and built by dbt once; each test works on a copy."""
    name = f"t_checks_{uuid.uuid4().hex[:8]}"
    db.create_database(pg_server.params, name, template="template0")
    params = {**pg_server.params, "dbname": name}
    home = tmp_path_factory.mktemp("checks_home")
    settings = load_settings({"COUNTONCE_HOME": str(home)})
    land_and_build(settings, params, write_lines(home / "events.jsonl", EVENTS, ("not json",)))
    yield name
    db.drop_database(pg_server.params, name)


@pytest.fixture
def built(pg_server, built_template, tmp_path):
    """(settings, params, conn) of a private copy of the built database."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    db.create_database(pg_server.params, name, template=built_template)
    params = {**pg_server.params, "dbname": name}
    settings = load_settings({"COUNTONCE_HOME": str(tmp_path / ".countonce")})
    with psycopg.connect(**params, autocommit=True) as conn:
        yield settings, params, conn
    db.drop_database(pg_server.params, name)


def failed(report: CheckReport, severity: str = CRITICAL) -> set[str]:
    return set(report.failed(severity))


def drop_unique_index(conn: psycopg.Connection, relation: str) -> None:
    schema, table = relation.split(".")
    rows = conn.execute(
        "select indexname from pg_indexes where schemaname = %s and tablename = %s"
        " and indexdef ilike 'create unique index%%'",
        (schema, table),
    ).fetchall()
    for (index,) in rows:
        conn.execute(psycopg.sql.SQL("drop index {}").format(psycopg.sql.Identifier(schema, index)))


def test_built_data_passes_and_warns_of_its_conflict_and_rejects(built):
    settings, params, conn = built
    report = run_checks(settings, params)
    assert report.success, report.as_dict()
    assert failed(report) == set()
    assert failed(report, WARNING) == {"no_conflicting_duplicates", "reject_rate_within_threshold"}
    conflict = next(r for r in report.results if r.expectation == "no_conflicting_duplicates")
    assert conflict.offending_rows[0]["conflicting_amount"] == Decimal("11.50")
    assert conflict.offending_rows[0]["kept_amount"] == Decimal("10.50")
    assert report.scope_batches >= 1 and report.scope_minutes == 4


BREAKS: dict[str, tuple[list[str], list[str], set[str]]] = {
    # name: (break statements, repair statements, critical checks expected to fail)
    "duplicate_row_forced_into_fact": (
        [
            "insert into analytics.fact_revenue_1m select * from analytics.fact_revenue_1m"
            " where currency = 'USD' and minute = '2026-11-26 10:01:00+00'"
        ],
        [
            "delete from analytics.fact_revenue_1m where ctid in (select max(ctid)"
            " from analytics.fact_revenue_1m group by minute, currency having count(*) > 1)"
        ],
        {"fact_key_unique"},
    ),
    "one_minute_revenue_changed": (
        [
            "update analytics.fact_revenue_1m set gross_paid_amount = gross_paid_amount + 0.01,"
            " net_amount = net_amount + 0.01 where minute = '2026-11-26 10:04:00+00'"
        ],
        [
            "update analytics.fact_revenue_1m set gross_paid_amount = gross_paid_amount - 0.01,"
            " net_amount = net_amount - 0.01 where minute = '2026-11-26 10:04:00+00'"
        ],
        {"fact_matches_recomputation"},
    ),
    "one_minute_refund_changed": (
        [
            "update analytics.fact_revenue_1m set refunded_amount = 9, net_amount = -9"
            " where minute = '2026-11-26 10:03:00+00'"
        ],
        [
            "update analytics.fact_revenue_1m set refunded_amount = 2.25, net_amount = -2.25"
            " where minute = '2026-11-26 10:03:00+00'"
        ],
        {"fact_matches_recomputation"},
    ),
    "null_amount_in_fact": (
        [
            "alter table analytics.fact_revenue_1m alter column refunded_amount drop not null",
            "update analytics.fact_revenue_1m set refunded_amount = null"
            " where minute = '2026-11-26 10:01:00+00'",
        ],
        [
            "update analytics.fact_revenue_1m set refunded_amount = 0"
            " where minute = '2026-11-26 10:01:00+00'"
        ],
        # A null amount differs from the recomputation too.
        {"fact_no_null_keys_or_amounts", "fact_matches_recomputation"},
    ),
    "misaligned_minute_in_fact": (
        [
            "update analytics.fact_revenue_1m set minute = minute + interval '30 seconds'"
            " where minute = '2026-11-26 10:02:00+00'"
        ],
        [
            "update analytics.fact_revenue_1m set minute = minute - interval '30 seconds'"
            " where minute = '2026-11-26 10:02:30+00'"
        ],
        {"fact_minutes_aligned", "fact_matches_recomputation"},
    ),
    "duplicate_key_forced_into_deduplicated": (
        [
            "insert into intermediate.int_order_events_deduplicated"
            " select * from intermediate.int_order_events_deduplicated where event_id = 'evt-a01'"
        ],
        [
            "delete from intermediate.int_order_events_deduplicated where ctid in ("
            " select max(ctid) from intermediate.int_order_events_deduplicated"
            " group by order_id, event_id having count(*) > 1)"
        ],
        {"deduplicated_key_unique", "ledger_balances"},
    ),
    "null_key_in_deduplicated": (
        [
            "alter table intermediate.int_order_events_deduplicated"
            " alter column event_id drop not null",
            "update intermediate.int_order_events_deduplicated set event_id = null"
            " where order_id = 'o-1002' and event_type = 'created'",
        ],
        [
            "update intermediate.int_order_events_deduplicated set event_id = 'evt-a01'"
            " where order_id = 'o-1002' and event_type = 'created'"
        ],
        {"deduplicated_no_null_keys_or_amounts"},
    ),
    "landed_row_deleted_from_ledger_view": (
        [
            "create table public.removed as select * from raw.order_events"
            " where record ->> 'event_id' = 'evt-9f3' and landing_seq = (select max(landing_seq)"
            " from raw.order_events where record ->> 'event_id' = 'evt-9f3')",
            "delete from raw.order_events where landing_seq in (select landing_seq"
            " from public.removed)",
        ],
        [
            "insert into raw.order_events (landing_seq, load_batch_id, source_file, source_line,"
            " source_offset, loaded_at, record, event_minute) overriding system value select"
            " landing_seq, load_batch_id, source_file, source_line, source_offset, loaded_at,"
            " record, event_minute"
            " from public.removed"
        ],
        {"ledger_balances"},
    ),
    "kept_row_deleted_from_deduplicated": (
        [
            "create table public.removed as select * from"
            " intermediate.int_order_events_deduplicated where event_id = 'evt-a01'",
            "delete from intermediate.int_order_events_deduplicated where event_id = 'evt-a01'",
        ],
        ["insert into intermediate.int_order_events_deduplicated select * from public.removed"],
        {"ledger_balances"},
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_each_break_fails_exactly_its_checks_and_the_repair_passes(built, name):
    settings, params, conn = built
    breaks, repairs, expected = BREAKS[name]
    if "forced_into" in name:
        drop_unique_index(conn, "analytics.fact_revenue_1m")
        drop_unique_index(conn, "intermediate.int_order_events_deduplicated")
    for statement in breaks:
        conn.execute(statement)
    broken = run_checks(settings, params)
    assert not broken.success
    assert failed(broken) == expected
    assert broken.critical_failed == len(expected)
    for result in broken.results:
        if result.expectation in expected:
            assert result.observed_value not in (0, None)
            assert result.offending_rows, f"{result.expectation} names what it found"

    for statement in repairs:
        conn.execute(statement)
    repaired = run_checks(settings, params)
    assert repaired.success, repaired.as_dict()
    assert failed(repaired) == set()


def test_full_checks_all_history_and_per_run_checks_only_the_new_batch(built, tmp_path):
    settings, params, conn = built
    first = run_checks(settings, params)
    assert first.success
    retried = {
        "event_id": "evt-c01",
        "order_id": "o-2001",
        "event_type": "paid",
        "amount": "1.00",
        "currency": "USD",
        "event_time": "2026-11-26T12:00:01Z",
    }
    land_and_build(settings, params, write_lines(tmp_path / "later.jsonl", [retried, retried]))
    per_run = run_checks(settings, params)
    assert per_run.success, per_run.as_dict()
    assert (per_run.scope_batches, per_run.scope_minutes) == (1, 1)

    # A break in a minute that no run touched since is only seen by the full check.
    conn.execute(
        "update analytics.fact_revenue_1m set paid_event_count = 9"
        " where minute = '2026-11-26 10:01:00+00'"
    )
    assert run_checks(settings, params).success
    full = run_checks(settings, params, full=True)
    assert failed(full) == {"fact_matches_recomputation"}
    assert full.scope_minutes == 5 and full.scope_batches == 2


def test_a_later_copy_in_another_minute_brings_its_kept_copys_minute_into_the_scope(
    built, tmp_path
):
    settings, params, conn = built
    assert run_checks(settings, params).success
    # evt-b03 was landed at 10:04; this copy claims 10:09, a minute no event is in.
    b03 = next(e for e in EVENTS if e["event_id"] == "evt-b03")
    moved = {**b03, "event_time": "2026-11-26T10:09:00Z"}
    land_and_build(settings, params, write_lines(tmp_path / "moved.jsonl", [moved]))

    per_run = run_checks(settings, params)

    assert per_run.success, per_run.as_dict()
    assert per_run.scope_minutes == 1  # 10:09; its kept copy at 10:04 is found by pointer
    # Had the duplicates model missed the copy, 10:09 would count it: the check fails.
    conn.execute("delete from intermediate.int_order_event_duplicates")
    assert failed(run_checks(settings, params)) >= {"fact_matches_recomputation"}


def test_warnings_report_late_duplicates_and_stale_landing_without_failing(built, tmp_path):
    settings, params, conn = built
    for relation in ("raw.order_events", "intermediate.int_order_events_deduplicated"):
        conn.execute(
            f"update {relation} set loaded_at = loaded_at - interval '2 hours'"
            " where landing_seq = (select landing_seq from"
            " intermediate.int_order_events_deduplicated where event_id = 'evt-9f3')"
        )
    land_and_build(settings, params, write_lines(tmp_path / "again.jsonl", [SEED_PAID]))
    conn.execute("update raw.load_batches set finished_at = finished_at - interval '3 days'")
    report = run_checks(settings, params)
    assert report.success
    assert {"no_late_duplicates", "landing_fresh"} <= failed(report, WARNING)
    assert report.warnings == len(failed(report, WARNING))


def test_results_of_several_runs_are_queryable_for_dashboards(built):
    settings, params, conn = built
    run_checks(settings, params, run_id="run-1")
    conn.execute(
        "update analytics.fact_revenue_1m set gross_paid_amount = 0"
        " where minute = '2026-11-26 10:04:00+00'"
    )
    run_checks(settings, params, run_id="run-2")
    per_run = conn.execute(
        "select run_id, count(*), count(*) filter (where not success and severity = 'critical')"
        " from dq.check_results group by run_id order by run_id"
    ).fetchall()
    assert per_run == [("run-1", 14, 0), ("run-2", 14, 1)]
    latest = dict(
        conn.execute("select expectation, success from dq.latest_check_status").fetchall()
    )
    assert latest["fact_matches_recomputation"] is False and latest["fact_key_unique"] is True
    (sample,) = conn.execute(
        "select offending_rows -> 0 from dq.check_results"
        " where run_id = 'run-2' and expectation = 'fact_matches_recomputation'"
    ).fetchone()
    assert sample["fact_gross_paid_amount"] == "0.00" or sample["fact_gross_paid_amount"] == "0"
    assert sample["landing_gross_paid_amount"] == "12.10"
    runs = conn.execute("select run_id, success from dq.check_runs order by run_id").fetchall()
    assert runs == [("run-1", True), ("run-2", False)]


def test_schema_creation_is_idempotent(built):
    from countonce.migrate import migrate

    _, _, conn = built
    assert migrate(conn) == []
    conn.execute("delete from ops.schema_migrations where version > 1")
    assert len(migrate(conn)) >= 3  # applied again over existing objects: nothing breaks


def test_counts_every_unexpected_row_and_keeps_the_first_twenty(built):
    settings, params, conn = built
    drop_unique_index(conn, "intermediate.int_order_events_deduplicated")
    conn.execute(
        "alter table intermediate.int_order_events_deduplicated alter column event_id drop not null"
    )
    conn.execute(
        "insert into intermediate.int_order_events_deduplicated"
        " select d.* from intermediate.int_order_events_deduplicated as d"
        " cross join generate_series(1, 29) where d.event_id = 'evt-a01'"
    )
    conn.execute(
        "update intermediate.int_order_events_deduplicated set event_id = null"
        " where event_id = 'evt-a01'"
    )
    report = run_checks(settings, params)
    nulls = next(
        r for r in report.results if r.expectation == "deduplicated_no_null_keys_or_amounts"
    )
    assert not nulls.success
    assert nulls.observed_value == 30
    assert len(nulls.offending_rows) == 20
    assert all(row["event_id"] is None for row in nulls.offending_rows)


def data_docs_run(settings) -> str | None:
    """The check run the Data Docs index shows."""
    index = settings.data_docs_dir / "index.html"
    if not index.is_file():
        return None
    text = index.read_text()
    return next((f"docs-{i}" for i in range(1, 6) if f"docs-{i}" in text), None)


def test_data_docs_are_rebuilt_when_the_outcome_changes_or_on_request(built):
    settings, params, conn = built
    run_checks(settings, params, run_id="docs-1")
    assert data_docs_run(settings) == "docs-1", "the first run renders the docs"
    assert run_checks(settings, params, run_id="docs-2").success
    assert data_docs_run(settings) == "docs-1", "same outcome: the docs are not rebuilt"

    conn.execute(
        "update analytics.fact_revenue_1m set gross_paid_amount = 0"
        " where minute = '2026-11-26 10:04:00+00'"
    )
    assert not run_checks(settings, params, run_id="docs-3").success
    assert data_docs_run(settings) == "docs-3", "a check that flips rebuilds the docs"
    run_checks(settings, params, run_id="docs-4")
    assert data_docs_run(settings) == "docs-3"

    run_checks(settings, params, run_id="docs-5", data_docs=True)
    assert data_docs_run(settings) == "docs-5", "asked for: always rebuilt"


def stamped_events(producer: str, sequences: list[int]) -> list[dict]:
    return [
        {
            "event_id": f"{producer}-{n}",
            "order_id": "o-3001",
            "event_type": "created",
            "event_time": "2026-11-26T10:05:00Z",
            "producer_id": producer,
            "sequence": n,
        }
        for n in sequences
    ]


def test_an_overdue_gap_warns_and_fails_the_run_with_the_setting(built, tmp_path):
    settings, params, conn = built
    land_and_build(
        settings, params, write_lines(tmp_path / "p.jsonl", stamped_events("p1", [0, 1, 3]))
    )
    fresh = run_checks(settings, params)
    assert fresh.success and "no_overdue_producer_gaps" not in failed(fresh, WARNING)

    # The gap has been open two hours: past the default grace of 60 minutes.
    conn.execute(
        "update intermediate.int_producer_gaps set noticed_at = now() - interval '2 hours'"
        " where last_missing is not null"
    )
    overdue = run_checks(settings, params)
    assert overdue.success and "no_overdue_producer_gaps" in failed(overdue, WARNING)
    row = next(r for r in overdue.results if r.expectation == "no_overdue_producer_gaps")
    assert (row.offending_rows[0]["producer_id"], row.offending_rows[0]["first_missing"]) == (
        "p1",
        2,
    )

    strict = load_settings({"COUNTONCE_HOME": str(settings.home), "COUNTONCE_GAPS_CRITICAL": "1"})
    critical = run_checks(strict, params)
    assert not critical.success and failed(critical) == {"no_overdue_producer_gaps"}

    # The late event arrives: the gap closes and the strict run passes.
    land_and_build(
        settings, params, write_lines(tmp_path / "late.jsonl", stamped_events("p1", [2]))
    )
    assert run_checks(strict, params).success


def test_a_gap_claiming_an_arrived_number_fails_critically(built, tmp_path):
    settings, params, conn = built
    land_and_build(
        settings, params, write_lines(tmp_path / "p.jsonl", stamped_events("p1", [0, 1, 3, 4]))
    )
    assert run_checks(settings, params).success
    conn.execute(
        "update intermediate.int_producer_gaps set last_missing = 3, missing_count = 2"
        " where first_missing = 2"
    )
    broken = run_checks(settings, params)
    assert failed(broken) == {"no_arrived_sequence_in_a_gap"}
    assert (
        broken.results[
            [r.expectation for r in broken.results].index("no_arrived_sequence_in_a_gap")
        ].offending_rows[0]["sequence"]
        == 3
    )
    conn.execute(
        "update intermediate.int_producer_gaps set last_missing = 2, missing_count = 1"
        " where first_missing = 2"
    )
    assert run_checks(settings, params).success


def test_a_reused_sequence_number_warns(built, tmp_path):
    settings, params, conn = built
    reused = stamped_events("p1", [0, 1]) + [{**stamped_events("p1", [1])[0], "event_id": "x"}]
    land_and_build(settings, params, write_lines(tmp_path / "p.jsonl", reused))
    report = run_checks(settings, params)
    assert report.success and "no_reused_sequences" in failed(report, WARNING)
