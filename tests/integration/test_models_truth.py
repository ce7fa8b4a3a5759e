"""The fact against the simulator's ground truth, and the reconciliation failing when the
fact or the ledger is broken on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_models_pipeline import dbt_work, models  # noqa: F401  (fixtures)
from test_models_support import dbt, event, fact, land, unbalanced_batches

from ingest.loader import load
from ingest.simulator import SimulatorConfig, generate, read_truth


def test_fact_equals_the_simulator_truth_to_the_cent(models, tmp_path: Path):  # noqa: F811
    settings, params, conn = models
    config = SimulatorConfig(
        seed=7, events=1500, files=3, replays=1, retry_rate=0.05, conflict_rate=0.02
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
    dbt(settings, params, recon_full=True)


def test_reconciliation_fails_when_the_fact_is_broken(models):  # noqa: F811
    settings, params, conn = models
    land(conn, [event("e1", amount="65.00"), event("e2", amount="1.00")])
    dbt(settings, params)
    conn.execute("update analytics.fact_revenue_1m set net_amount = net_amount + 0.01")
    outcome = dbt(
        settings,
        params,
        "build",
        "--select",
        "reconciliation",
        expect_success=False,
        recon_full=True,
    )
    assert not outcome.success
    assert any("assert_fact_matches_landing" in failure for failure in outcome.failures)


def test_ledger_fails_when_a_row_goes_missing(models):  # noqa: F811
    settings, params, conn = models
    land(conn, [event("e1"), event("e1"), event("e2", amount="x")])
    dbt(settings, params)
    conn.execute("delete from intermediate.int_order_event_duplicates")
    dbt(settings, params, "run", "--select", "recon_conservation_by_batch+", "--full-refresh")
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


@pytest.mark.parametrize("scope", [{}, {"recon_full": True}])
def test_reconciliation_sees_a_kept_copy_outside_the_window(models, scope):  # noqa: F811
    """A conflicting copy in another minute must not be counted by the recomputation."""
    settings, params, conn = models
    land(conn, [event("e1", amount="5.00", event_time="2026-11-26T10:01:00Z")])
    dbt(settings, params)
    land(conn, [event("e1", amount="5.00", event_time="2026-11-26T10:07:00Z")])
    dbt(settings, params, **scope)
    assert len(fact(conn)) == 1
