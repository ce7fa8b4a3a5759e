"""The dbt models end to end on a real PostgreSQL: exactly-once revenue under duplicates,
replays, late and out-of-order events, conflicts, bad rows and out-of-order commits."""

from __future__ import annotations

import json
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
    last_invocation,
    scope_size,
    unbalanced_batches,
    written_by_last_build,
)

from scheduler.scope import scope_metrics


def written_by(row: tuple) -> bool:
    """Whether a fact row (fact(conn, with_run=True)) was recomputed by the last build."""
    return row[6] == last_invocation()


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
    assert written_by_last_build(conn, "intermediate.int_order_events_deduplicated") == 0
    assert unbalanced_batches(conn) == []


def test_a_batch_processed_again_changes_no_number(models):
    """Nothing recorded as processed (a run that died after its build): the next builds
    process the same batch again, and again, and every number stays."""
    settings, params, conn = models
    seed = event("evt-9f3", "o-1001", amount="65.00")
    land(conn, [seed, seed, event("r1", "o-1001", "refunded", "5.00")])
    dbt(settings, params, record=False)
    before = (fact(conn), dedup_history(conn), duplicates(conn))
    for _ in range(2):
        dbt(settings, params, record=False)
        assert scope_size(conn) == 1
        assert (fact(conn), dedup_history(conn), duplicates(conn)) == before
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
    assert written_by_last_build(conn, "intermediate.int_order_events_deduplicated") == 0
    assert written_by_last_build(conn, "analytics.fact_revenue_1m") == 0
    assert scope_metrics(settings, params)["duplicates_absorbed"] == 6
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
    touched = {key for key, row in rows.items() if written_by(row)}
    assert touched == {(MINUTE, "USD")}


def test_late_duplicate_never_counts_twice_and_is_reported(models):
    settings, params, conn = models
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    land(conn, [event("e1", amount="40.00")], loaded_at=long_ago)
    dbt(settings, params)
    assert scope_size(conn) == 1
    land(conn, [event("e2", amount="1.00")], loaded_at=long_ago)
    dbt(settings, params)
    assert scope_size(conn) == 1

    land(conn, [event("e1", amount="40.00")])
    dbt(settings, params)
    assert fact(conn)[(MINUTE, "USD")] == (Decimal("41.00"), 0, Decimal("41.00"), 2, 0)
    assert list(duplicates(conn).values()) == [("o-1", "e1", True)]
    assert scope_metrics(settings, params)["duplicates_absorbed"] == 1


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
    assert scope_metrics(settings, params)["conflicts"] == 1


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
    assert scope_metrics(settings, params)["rejects"] == len(REJECTS)
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
    assert unbalanced_batches(conn) == []
    full = conn.execute(
        "select count(*), count(*) filter (where not is_match)"
        " from reconciliation.recon_revenue_1m_full"
    ).fetchone()
    assert full == (4, 0)


def test_dbt_unit_tests_pass(models):
    """The dbt unit tests (duplicates, conflicts, late events in; one kept row out)."""
    settings, params, conn = models
    land(conn, [event("e1")])
    dbt(settings, params)
    outcome = dbt(settings, params, "test", "--select", "test_type:unit")
    assert len(outcome.result.result.results) >= 5


def test_primary_key_tests_catch_a_repeated_and_a_null_key(models):
    settings, params, conn = models
    land(conn, [event("e1"), event("e2")])
    dbt(settings, params, record=False)
    history = "intermediate.int_order_events_deduplicated"
    key_test = ["test", "--select", "test_name:primary_key,int_order_events_deduplicated"]
    dbt(settings, params, *key_test)
    # The database enforces this key; a table built before its constraints would not.
    for (index,) in conn.execute(
        "select indexrelid::regclass::text from pg_index where indrelid = %s::regclass",
        (history,),
    ).fetchall():
        conn.execute(f"drop index {index}")
    conn.execute(f"alter table {history} alter column event_id drop not null")

    conn.execute(f"insert into {history} select * from {history} where event_id = 'e1'")
    repeated = dbt(settings, params, *key_test, expect_success=False)
    assert not repeated.success
    assert all("primary_key_int_order_events_deduplicated" in f for f in repeated.failures)

    conn.execute(f"delete from {history} where event_id = 'e1'")
    dbt(settings, params, *key_test)
    conn.execute(f"update {history} set event_id = null where event_id = 'e2'")
    assert not dbt(settings, params, *key_test, expect_success=False).success


def test_a_leap_second_counts_in_the_minute_it_is_stamped_in(models):
    settings, params, conn = models
    land(conn, [event("leap", amount="3.00", event_time="2016-12-31T23:59:60Z")])
    dbt(settings, params)
    leap_minute = datetime(2016, 12, 31, 23, 59, tzinfo=UTC)
    assert fact(conn) == {(leap_minute, "USD"): (Decimal("3.00"), 0, Decimal("3.00"), 1, 0)}
    (event_at,) = conn.execute(
        "select event_at from intermediate.int_order_events_deduplicated"
    ).fetchone()
    assert leap_minute <= event_at < leap_minute + timedelta(minutes=1)


def test_copies_whose_times_round_alike_but_fall_in_two_minutes_are_a_conflict(models):
    """10:40:59.9999999 and 10:41:00 are one microsecond value apart for PostgreSQL, but the
    fact counts the first in 10:40: the copies disagree, and that is reported."""
    settings, params, conn = models
    land(conn, [event("e1", amount="5.00", event_time="2026-11-26T10:40:59.9999999Z")])
    land(conn, [event("e1", amount="5.00", event_time="2026-11-26T10:41:00Z")])
    dbt(settings, params)
    assert list(fact(conn)) == [(datetime(2026, 11, 26, 10, 40, tzinfo=UTC), "USD")]
    conflicts = conn.execute(
        "select kept_event_at, conflicting_event_at from intermediate.int_order_event_conflicts"
    ).fetchall()
    assert len(conflicts) == 1
    kept_at, conflicting_at = conflicts[0]
    assert kept_at < conflicting_at == datetime(2026, 11, 26, 10, 41, tzinfo=UTC)


def test_the_ledger_counts_a_held_back_line_as_pending_until_it_lands(models, tmp_path):
    import os
    import time

    from ingest.loader import load

    settings, params, conn = models
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "growing.jsonl"
    path.write_text(json.dumps(event("e1")) + "\n" + json.dumps(event("e2")))
    load(settings, params, [str(inbox)])
    dbt(settings, params)
    by_file = (
        "select lines_read, rows_landed, lines_pending, is_balanced"
        " from reconciliation.recon_conservation_by_file where source_file = %s"
    )
    assert conn.execute(by_file, (str(path.resolve()),)).fetchone() == (1, 1, 1, True)
    past = time.time() - 3600
    os.utime(path, (past, past))
    load(settings, params, [str(inbox)])
    dbt(settings, params)
    assert conn.execute(by_file, (str(path.resolve()),)).fetchone() == (2, 2, 0, True)
