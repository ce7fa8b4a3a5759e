"""The report's queries on a real PostgreSQL, at the stages a database goes through."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from countonce.report import queries
from tests.integration.test_report_page import land, paid


def test_an_empty_database_has_nothing_to_report(conn, database):
    assert queries.currency_totals(conn) is None
    assert queries.batch_outcomes(conn, 10) is None
    assert queries.latest_checks(conn, 10) is None
    assert queries.latest_runs(conn, 10) is None
    assert set(vars(queries.dedup_figures(conn)).values()) == {None}


def test_batches_landed_before_any_build_have_no_model_counts(migrated):
    for n in range(3):
        land(migrated, f"f{n}.jsonl", [paid(f"e{n}", "o1", "1.00", "USD", "x")], rejected_lines=n)

    outcomes = queries.batch_outcomes(migrated, 2)
    figures = queries.dedup_figures(migrated)

    assert [(o.source_file, o.landed, o.rejected_at_load) for o in outcomes] == [
        ("f1.jsonl", 1, 1),
        ("f2.jsonl", 1, 2),
    ]
    assert {(o.kept, o.duplicates, o.conflicts, o.balanced) for o in outcomes} == {
        (None, None, None, None)
    }
    assert (figures.rows_landed, figures.rejected_at_load, figures.events_kept) == (3, 3, None)


@pytest.fixture
def fact(conn: psycopg.Connection) -> psycopg.Connection:
    """The mart's columns and types, with minutes of two currencies."""
    conn.execute("create schema analytics")
    conn.execute(
        """
        create table analytics.fact_revenue_1m (
            minute timestamptz not null,
            currency text not null,
            gross_paid_amount numeric(14, 2) not null,
            refunded_amount numeric(14, 2) not null,
            net_amount numeric(14, 2) not null,
            paid_event_count bigint not null,
            refund_event_count bigint not null
        )
        """
    )
    with conn.cursor() as cur:
        cur.executemany(
            "insert into analytics.fact_revenue_1m values (%s, %s, %s, %s, %s, %s, %s)",
            [
                ("2026-11-20 10:00Z", "USD", "0.10", "0.00", "0.10", 1, 0),
                ("2026-11-20 10:01Z", "USD", "0.20", "0.00", "0.20", 1, 0),
                ("2026-11-26 10:01Z", "USD", "999999999999.99", "5.00", "999999999994.99", 2, 1),
                ("2026-11-26 08:03Z", "EUR", "12.25", "0.00", "12.25", 1, 0),
            ],
        )
    return conn


def test_totals_per_currency_are_exact_decimals(fact):
    totals = {t.currency: t for t in queries.currency_totals(fact)}

    assert sorted(totals) == ["EUR", "USD"]
    usd = totals["USD"]
    assert (usd.minutes, usd.gross, usd.net) == (
        3,
        Decimal("1000000000000.29"),
        Decimal("999999999995.29"),
    )
    assert isinstance(usd.refunded, Decimal) and usd.refunded == Decimal("5.00")
    assert usd.first_minute == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_latest_minutes_keeps_the_newest_of_each_currency_oldest_first(fact):
    series = queries.latest_minutes(fact, 2)

    assert {c: [p.minute.isoformat() for p in s] for c, s in series.items()} == {
        "EUR": ["2026-11-26T08:03:00+00:00"],
        "USD": ["2026-11-20T10:01:00+00:00", "2026-11-26T10:01:00+00:00"],
    }
    assert series["USD"][1].net == Decimal("999999999994.99")


def test_the_snapshot_reads_only(migrated, database):
    with queries.snapshot(database) as conn:
        assert conn.execute("show time zone").fetchone()[0] == "UTC"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("delete from raw.order_events")
