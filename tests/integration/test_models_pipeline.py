"""The dbt models end to end on a real PostgreSQL: exactly-once revenue under duplicates,
replays, late and out-of-order events, conflicts, bad rows and out-of-order commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from test_models_support import (
    dbt,
    dbt_settings,
    dedup_history,
    duplicates,
    event,
    fact,
    land,
    land_rows,
    last_run_metrics,
    unbalanced_batches,
)

MINUTE = datetime(2026, 11, 26, 10, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def dbt_work(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("dbt_models")


@pytest.fixture
def models(settings, database, migrated, dbt_work):
    """(settings, params, conn) for building the dbt project against the test database."""
    return dbt_settings(settings, dbt_work), database, migrated


def test_seed_example_counted_once_and_rebuild_changes_nothing(models):
    settings, params, conn = models
    seed = event("evt-9f3", "o-1001", amount="65.00")
    land(conn, [event("evt-1", "o-1000", "created", None, None), seed, seed])
    dbt(settings, params)
    assert fact(conn) == {(MINUTE, "USD"): (Decimal("65.00"), 0, Decimal("65.00"), 1, 0)}
    before = (fact(conn, with_run=True), dedup_history(conn), duplicates(conn))

    dbt(settings, params)
    assert (fact(conn, with_run=True), dedup_history(conn), duplicates(conn)) == before
    assert last_run_metrics(conn)["rows_kept"] == 0
    assert unbalanced_batches(conn) == []


def test_replaying_every_file_leaves_the_fact_unchanged(models):
    settings, params, conn = models
    first = [event(f"e{i}", f"o{i}", amount=f"{i}.25") for i in range(1, 6)]
    second = [event("r1", "o1", "refunded", "1.25", event_time="2026-11-26T10:02:00+02:00")]
    land(conn, first, source_file="a.jsonl")
    land(conn, second, source_file="b.jsonl")
    dbt(settings, params)
    before = fact(conn, with_run=True)

    land(conn, first, source_file="a.jsonl")
    land(conn, second, source_file="b.jsonl")
    dbt(settings, params)
    assert fact(conn, with_run=True) == before
    metrics = last_run_metrics(conn)
    assert (metrics["rows_kept"], metrics["duplicates"], metrics["fact_rows_recomputed"]) == (
        0,
        6,
        0,
    )
    assert unbalanced_batches(conn) == []
    files = conn.execute(
        "select source_file, rows_landed, rows_kept, rows_duplicate, is_balanced"
        " from reconciliation.recon_conservation_by_file order by 1"
    ).fetchall()
    assert files == [("a.jsonl", 10, 5, 5, True), ("b.jsonl", 2, 1, 1, True)]


def test_identical_payloads_with_different_keys_are_separate_events(models):
    settings, params, conn = models
    land(conn, [event("e1", "o1"), event("e2", "o1"), event("e1", "o2")])
    dbt(settings, params)
    assert fact(conn)[(MINUTE, "USD")] == (Decimal("30.00"), 0, Decimal("30.00"), 3, 0)
    assert duplicates(conn) == {}


def test_late_event_recomputes_its_old_minute(models):
    settings, params, conn = models
    land(
        conn,
        [
            event("e1", amount="10.00"),
            event("e2", amount="5.00", event_time="2026-11-26T11:00:00Z"),
        ],
    )
    dbt(settings, params)
    land(conn, [event("e3", amount="2.50", event_time="2026-11-26T10:01:59.999Z")])
    dbt(settings, params)
    rows = fact(conn, with_run=True)
    assert rows[(MINUTE, "USD")][:5] == (Decimal("12.50"), 0, Decimal("12.50"), 2, 0)
    late_run = last_run_metrics(conn)["invocation_id"]
    touched = {key for key, row in rows.items() if row[6] == late_run}
    assert touched == {(MINUTE, "USD")}


def test_late_duplicate_never_counts_twice_and_is_reported(models):
    settings, params, conn = models
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    land(conn, [event("e1", amount="40.00")], loaded_at=long_ago)
    dbt(settings, params)
    assert last_run_metrics(conn)["rows_scanned"] == 1
    land(conn, [event("e2", amount="1.00")], loaded_at=long_ago)
    dbt(settings, params)
    assert last_run_metrics(conn)["rows_scanned"] == 1

    land(conn, [event("e1", amount="40.00")])
    dbt(settings, params)
    assert fact(conn)[(MINUTE, "USD")] == (Decimal("41.00"), 0, Decimal("41.00"), 2, 0)
    assert list(duplicates(conn).values()) == [("o-1", "e1", True)]
    metrics = last_run_metrics(conn)
    assert (metrics["duplicates"], metrics["late_duplicates"]) == (1, 1)


def test_rescan_window_rereads_recent_batches_and_changes_nothing(models):
    settings, params, conn = models
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    land(conn, [event("e1", amount="40.00")], loaded_at=long_ago)
    land(conn, [event("e2", amount="1.00"), event("e2", amount="1.00")])
    dbt(settings, params)
    before = fact(conn)
    land(conn, [event("e3", amount="2.00")])
    dbt(settings, params, rescan_minutes=0)
    assert last_run_metrics(conn)["rows_scanned"] == 1

    land(conn, [event("e4", amount="3.00")])
    dbt(settings, params, rescan_minutes=60)
    metrics = last_run_metrics(conn)
    # The two recent batches again and the new one; the batch of three hours ago is not.
    assert (metrics["scanned_load_batches"], metrics["rows_scanned"]) == (3, 4)
    assert (metrics["rows_kept"], metrics["duplicates"]) == (1, 0)
    assert fact(conn)[(MINUTE, "USD")] == (
        before[(MINUTE, "USD")][0] + Decimal("5.00"),
        0,
        before[(MINUTE, "USD")][0] + Decimal("5.00"),
        4,
        0,
    )
    assert list(duplicates(conn).values()) == [("o-1", "e2", False)]
    assert unbalanced_batches(conn) == []


def test_conflicts_are_listed_and_the_kept_copy_counts(models):
    settings, params, conn = models
    land(conn, [event("e1", amount="65.00"), event("e2", amount="1.00")])
    land(conn, [event("e1", amount="56.00"), event("e2", amount="1.00")])
    dbt(settings, params)
    assert fact(conn)[(MINUTE, "USD")][0] == Decimal("66.00")
    conflicts = conn.execute(
        "select order_id, event_id, kept_amount, conflicting_amount, conflicting_loaded_at"
        " from intermediate.int_order_event_conflicts"
    ).fetchall()
    assert [row[:4] for row in conflicts] == [("o-1", "e1", Decimal("65.00"), Decimal("56.00"))]
    assert conflicts[0][4] is not None
    assert last_run_metrics(conn)["conflicts"] == 1


REJECTS = [
    ({"order_id": "o", "event_type": "paid"}, "event_id_missing"),
    (event(""), "event_id_missing"),
    (event("e", order_id=""), "order_id_missing"),
    (event("x" * 129), "event_id_too_long"),
    (event("e", order_id="o" * 129), "order_id_too_long"),
    (event("e", event_type="shipped"), "event_type_unknown"),
    ({"event_id": "e", "order_id": "o"}, "event_type_missing"),
    (event("e", event_time="2026-11-26 10:01:12"), "event_time_invalid"),
    (event("e", event_time="2026-11-26T10:01:12"), "event_time_invalid"),
    (event("e", event_time="2026-02-30T10:01:12Z"), "event_time_invalid"),
    (event("e", event_time="yesterday"), "event_time_invalid"),
    (event("e", event_time="2999-01-01T00:00:00Z"), "event_time_in_future"),
    (event("e", amount=None), "amount_missing"),
    (event("e", event_type="refunded", amount=""), "amount_missing"),
    (event("e", amount="12,50"), "amount_not_numeric"),
    (event("e", amount="1e3"), "amount_not_numeric"),
    (event("e", amount={"value": 1}), "amount_not_numeric"),
    (event("e", amount="9" * 200_000), "amount_out_of_range"),
    (event("e", amount="-1.00"), "amount_negative"),
    (event("e", amount="1.005"), "amount_too_precise"),
    (event("e", amount=0.001), "amount_too_precise"),
    (event("e", amount="1000000000000"), "amount_out_of_range"),
    (event("e", currency=None), "currency_missing"),
    (event("e", currency="usd"), "currency_invalid"),
    (event("e", currency="US"), "currency_invalid"),
    (event("e", event_type="created", amount=None, currency="dollars"), "currency_invalid"),
]


def test_bad_rows_are_rejected_with_a_reason_and_never_fail_the_build(models):
    settings, params, conn = models
    good = [
        event("ok1", amount="999999999999.99"),
        event("ok2", amount=12.5),
        event("ok3", amount="0"),
        event("ok4", "o2", "created", None, None),
        event("ok5", event_time="2026-11-26T15:31:12+05:30"),
    ]
    land(conn, [record for record, _ in REJECTS] + good)
    dbt(settings, params)
    reasons = [
        row[0]
        for row in conn.execute(
            "select reject_reason from intermediate.int_order_events_rejected order by landing_seq"
        )
    ]
    assert reasons == [reason for _, reason in REJECTS]
    assert fact(conn) == {
        (MINUTE, "USD"): (Decimal("1000000000022.49"), 0, Decimal("1000000000022.49"), 4, 0)
    }
    assert last_run_metrics(conn)["rejects"] == len(REJECTS)
    assert unbalanced_batches(conn) == []


def test_rows_committed_out_of_order_are_never_skipped(models, database):
    settings, params, conn = models
    with psycopg.connect(**database) as slow, psycopg.connect(**database) as fast:
        # The slow loader takes its landing sequence numbers first, and commits last.
        land_rows(slow, [event("s1", amount="1.00"), event("k", currency="EUR", amount="7.00")])
        land_rows(fast, [event("f1", amount="2.00"), event("k", currency="USD", amount="7.00")])
        fast.commit()
        dbt(settings, params)
        assert fact(conn) == {(MINUTE, "USD"): (Decimal("9.00"), 0, Decimal("9.00"), 2, 0)}
        slow.commit()
    dbt(settings, params)
    # Every row is found, and the copy of "k" landed first wins, as a full refresh decides.
    incremental = fact(conn)
    assert incremental == {
        (MINUTE, "USD"): (Decimal("3.00"), 0, Decimal("3.00"), 2, 0),
        (MINUTE, "EUR"): (Decimal("7.00"), 0, Decimal("7.00"), 1, 0),
    }
    assert unbalanced_batches(conn) == []
    history = dedup_history(conn)
    dbt(settings, params, "build", "--full-refresh")
    assert fact(conn) == incremental
    assert dedup_history(conn) == history


def test_full_refresh_gives_the_same_fact_as_the_incremental_history(models):
    settings, params, conn = models
    batches = [
        [event("a", amount="1.10"), event("b", amount="2.20"), event("a", amount="1.10")],
        [
            event("c", "o2", amount="3.30", currency="EUR"),
            event("b", amount="9.99"),
            event("d", "o2", "refunded", "1.10", event_time="2026-11-26T09:59:59Z"),
        ],
        [event("e", "o3", amount="4.40", event_time="2026-11-25T23:00:00-05:00")],
        [event("a", amount="1.10"), event("f", "o3", "cancelled", None, None)],
    ]
    for batch in batches:
        land(conn, batch)
        dbt(settings, params)
    incremental = (fact(conn), dedup_history(conn), duplicates(conn))
    dbt(settings, params, "build", "--full-refresh")
    assert (fact(conn), dedup_history(conn), duplicates(conn)) == incremental
    dbt(settings, params, recon_full=True)
    assert unbalanced_batches(conn) == []


def test_dbt_unit_tests_pass(models):
    """The dbt unit tests (duplicates, conflicts, late events in; one kept row out)."""
    settings, params, conn = models
    land(conn, [event("e1")])
    dbt(settings, params)
    outcome = dbt(settings, params, "test", "--select", "test_type:unit")
    assert len(outcome.result.result.results) >= 5


def test_primary_key_tests_catch_a_repeated_and_a_null_key(models):
    settings, params, conn = models
    land(conn, [event("e1")])
    dbt(settings, params)
    metrics = "reconciliation.recon_dedup_run_metrics"
    key_test = ["test", "--select", "primary_key_recon_dedup_run_metrics_invocation_id"]
    dbt(settings, params, *key_test)
    # The database enforces this key; a table built before its constraints would not.
    (index,) = conn.execute(
        "select indexrelid::regclass::text from pg_index where indrelid = %s::regclass",
        (metrics,),
    ).fetchone()
    conn.execute(f"drop index {index}")
    conn.execute(f"alter table {metrics} alter column invocation_id drop not null")

    conn.execute(f"insert into {metrics} select * from {metrics}")
    repeated = dbt(settings, params, *key_test, expect_success=False)
    assert not repeated.success and "primary_key_recon_dedup_run_metrics" in repeated.failures[0]

    conn.execute(f"delete from {metrics}")
    conn.execute(f"insert into {metrics} (invocation_id) values (null)")
    assert not dbt(settings, params, *key_test, expect_success=False).success

    conn.execute(f"delete from {metrics}")
    dbt(settings, params, *key_test)
