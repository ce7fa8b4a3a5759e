"""dbt's own incremental materialization guards the models' tables: a model whose columns no
longer match its contract fails with dbt's contract error, one whose columns changed since its
table was built fails with dbt's schema-change error, in a full build and in the scheduler's
per_batch build alike, and neither writes anything; a full refresh rebuilds them."""

from __future__ import annotations

import dataclasses
import shutil
from decimal import Decimal

import pytest
from test_models_support import dbt, event, fact, land, written_by_last_build

from countonce.settings import PROJECT_ROOT


@pytest.fixture
def built_copy(settings, database, migrated, tmp_path):
    """(settings, project): a copy of the dbt project, which the test may edit, built once
    over one landed event."""
    project = tmp_path / "dbt_project"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs")
    )
    settings = dataclasses.replace(settings, home=tmp_path / "home", dbt_project_dir=project)
    land(migrated, [event("e1", amount="10.00")])
    dbt(settings, database)
    return settings, project


def test_a_changed_model_fails_on_schema_change_and_a_full_refresh_rebuilds_it(
    built_copy, database, migrated
):
    conn = migrated
    settings, project = built_copy
    land(conn, [event("e2", amount="5.00")])
    dbt(settings, database)
    assert written_by_last_build(conn, "intermediate.int_order_events_deduplicated") == 1
    assert [row[0] for row in fact(conn).values()] == [Decimal("15.00")]

    rejected_model = project / "models/intermediate/int_order_events_rejected.sql"
    text = rejected_model.read_text()
    assert "\nselect * from final\n" in text
    rejected_model.write_text(
        text.replace("\nselect * from final\n", "\nselect *, 1 as added_column from final\n", 1)
    )
    land(conn, [event("e3", amount="1.00"), event("e4", amount="abc")])

    for selection in (["--selector", "per_batch"], []):
        failed = dbt(settings, database, "build", *selection, expect_success=False)
        assert any(
            "int_order_events_rejected" in f and "out of sync" in f for f in failed.failures
        ), failed.failures
        assert rejected_rows(conn) == 0

    dbt(settings, database, "build", "--full-refresh")
    assert conn.execute(
        "select reject_reason, added_column from intermediate.int_order_events_rejected"
    ).fetchall() == [("amount_not_numeric", 1)]
    assert [row[0] for row in fact(conn).values()] == [Decimal("16.00")]


def test_the_marts_contract_is_checked_by_every_build_the_per_batch_one_included(
    built_copy, database, migrated
):
    conn = migrated
    settings, project = built_copy

    contract = project / "models/marts/_marts__models.yml"
    declared = "      - name: paid_event_count\n        description: Number of paid events.\n"
    text = contract.read_text()
    assert text.count(declared + "        data_type: bigint\n") == 1
    contract.write_text(
        text.replace(
            declared + "        data_type: bigint\n", declared + "        data_type: date\n"
        )
    )
    land(conn, [event("e2", amount="2.00")])
    before = fact(conn)

    for selection in (["--selector", "per_batch"], []):
        failed = dbt(settings, database, "build", *selection, expect_success=False)
        assert any(
            "fact_revenue_1m" in f and "contract" in f and "paid_event_count" in f
            for f in failed.failures
        ), failed.failures
        assert fact(conn) == before

    contract.write_text(text)
    fact_model = project / "models/marts/fact_revenue_1m.sql"
    fact_model.write_text(
        fact_model.read_text().replace(
            "select * from final", "select *, 1 as added_column from final"
        )
    )
    failed = dbt(settings, database, "build", "--selector", "per_batch", expect_success=False)
    assert any(
        "fact_revenue_1m" in f and "contract" in f and "added_column" in f for f in failed.failures
    ), failed.failures
    assert fact(conn) == before


def rejected_rows(conn) -> int:
    return conn.execute("select count(*) from intermediate.int_order_events_rejected").fetchone()[0]
