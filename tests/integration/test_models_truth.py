"""The fact against the simulator's ground truth, and the reconciliation failing when the
fact or the ledger is broken on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_models_pipeline import dbt_work, models  # noqa: F401  (fixtures)
from test_models_support import dbt, event, fact, land, unbalanced_batches

from ingest.loader import load
from ingest.simulator import SimulatorConfig, generate, read_dropped, read_truth


def test_fact_equals_the_simulator_truth_to_the_cent(models, tmp_path: Path):  # noqa: F811
    settings, params, conn = models
    config = SimulatorConfig(
        seed=7,
        events=1500,
        files=3,
        replays=1,
        retry_rate=0.05,
        conflict_rate=0.02,
        producers=3,
        drop_rate=0.01,
    )
    result = generate(tmp_path / "stream", config)
    for path in result.files:  # every file, then its replay: a build after each
        load(settings, params, [str(path)])
        dbt(settings, params)
    truth = read_truth(tmp_path / "stream" / "truth.csv")
    expected = {
        key: tuple(row[c] for c in ("gross_paid_amount", "refunded_amount", "net_amount"))
        + (row["paid_event_count"], row["refund_event_count"])
        for key, row in truth.items()
    }
    assert fact(conn) == expected
    assert unbalanced_batches(conn) == []
    # Every re-send with another amount is listed (once per key, however often it landed).
    conflicts = conn.execute(
        "select count(distinct (order_id, event_id)) from intermediate.int_order_event_conflicts"
        " where kept_amount <> conflicting_amount"
    )
    assert conflicts.fetchone()[0] == result.conflicts
    assert conn.execute(
        "select count(*) from reconciliation.recon_revenue_1m_full where not is_match"
    ).fetchone() == (0,)
    # The events the simulator lost are exactly the gaps (below each producer's highest
    # number: a loss after a producer's last event cannot be seen); retries, conflicting
    # re-sends, late events and the replay add none.
    highest = dict(
        conn.execute("select producer_id, highest_sequence from analytics.producer_completeness")
    )
    found = {
        (producer, n)
        for producer, first, last in conn.execute(
            "select producer_id, first_missing, last_missing from analytics.producer_gaps"
        )
        for n in range(first, last + 1)
    }
    lost = read_dropped(tmp_path / "stream" / "dropped.csv")
    assert found == {(p, n) for p, numbers in lost.items() for n in numbers if n < highest[p]}
    assert len(found) >= result.dropped - 3 > 0
    assert conn.execute(
        "select count(*) from intermediate.int_producer_sequence_reuses"
    ).fetchone() == (0,)


def test_reconciliation_fails_when_the_fact_is_broken(models):  # noqa: F811
    settings, params, conn = models
    land(conn, [event("e1", amount="65.00"), event("e2", amount="1.00")])
    dbt(settings, params, record=False)  # a build whose run has not recorded its scope yet
    conn.execute("update analytics.fact_revenue_1m set net_amount = net_amount + 0.01")
    outcome = dbt(settings, params, "test", "--select", "reconciliation", expect_success=False)
    assert not outcome.success
    assert any("assert_fact_matches_landing" in failure for failure in outcome.failures)
    assert conn.execute(
        "select count(*) from reconciliation.recon_revenue_1m_full where not is_match"
    ).fetchone() == (1,)


def test_ledger_fails_when_a_row_goes_missing(models):  # noqa: F811
    settings, params, conn = models
    land(conn, [event("e1"), event("e1"), event("e2", amount="x")])
    dbt(settings, params, record=False)
    conn.execute("delete from intermediate.int_order_event_duplicates")
    outcome = dbt(settings, params, "test", "--select", "reconciliation", expect_success=False)
    failed = {failure.split(":")[0] for failure in outcome.failures}
    assert failed == {
        "test.countonce.assert_batches_balance",
        "test.countonce.assert_files_balance",
    }
    files = conn.execute(
        "select source_file, rows_landed, rows_kept, rows_duplicate, rows_rejected"
        " from reconciliation.recon_conservation_by_file where not is_balanced"
    )
    assert files.fetchall() == [("events-0001.jsonl", 3, 1, 0, 1)]


@pytest.mark.parametrize("view", ["recon_revenue_1m", "recon_revenue_1m_full"])
def test_reconciliation_sees_a_kept_copy_outside_the_window(models, view):  # noqa: F811
    """A conflicting copy in another minute must not be counted by the recomputation."""
    settings, params, conn = models
    land(conn, [event("e1", amount="5.00", event_time="2026-11-26T10:01:00Z")])
    dbt(settings, params)
    land(conn, [event("e1", amount="5.00", event_time="2026-11-26T10:07:00Z")])
    dbt(settings, params, record=False)
    assert len(fact(conn)) == 1
    mismatches = conn.execute(
        f"select count(*) from reconciliation.{view} where not is_match"
    ).fetchone()[0]
    assert mismatches == 0
