"""What every fault test ends by proving: the fact equals the simulator's truth to the cent,
and every line of every file is accounted for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg

MEASURES = (
    "gross_paid_amount",
    "refunded_amount",
    "net_amount",
    "paid_event_count",
    "refund_event_count",
)


def fact(conn: psycopg.Connection) -> dict[tuple, dict]:
    rows = conn.execute(
        "select minute, currency, gross_paid_amount, refunded_amount, net_amount,"
        " paid_event_count, refund_event_count from analytics.fact_revenue_1m"
    ).fetchall()
    return {
        (minute, currency): dict(zip(MEASURES, rest, strict=True))
        for minute, currency, *rest in rows
    }


@dataclass(frozen=True)
class Copy:
    sent_at: tuple[int, int]  # (file number, line): the producer's order
    landing_seq: int
    event_type: str
    amount: Decimal
    currency: str
    minute: datetime


def _copies(conn: psycopg.Connection) -> dict[tuple[str, str], list[Copy]]:
    """Every landed copy of the simulator's money events, read from landing as text."""
    rows = conn.execute(
        "select record ->> 'order_id', record ->> 'event_id', source_file, source_line,"
        " landing_seq, record ->> 'event_type', record ->> 'amount', record ->> 'currency',"
        " record ->> 'event_time'"
        " from raw.order_events"
        " where record ->> 'event_id' not like %s and record ->> 'event_type' = any(%s)",
        ("bad%", ["paid", "refunded"]),
    ).fetchall()
    copies: dict[tuple[str, str], list[Copy]] = {}
    for order_id, event_id, source_file, line, seq, kind, amount, currency, at in rows:
        number = int(Path(source_file).stem.rsplit("-", 1)[1])  # events-0002 / replay-0002
        minute = datetime.fromisoformat(at).astimezone(UTC).replace(second=0, microsecond=0)
        copies.setdefault((order_id, event_id), []).append(
            Copy((number, line), seq, kind, Decimal(amount), currency, minute)
        )
    return copies


def expected_fact(conn: psycopg.Connection, truth: dict) -> tuple[dict, set]:
    """The truth, except where a conflicting re-send landed before the producer's original.

    The contract keeps the first landed copy and reports the conflict. When a schedule loads
    a later file before an earlier one (two loaders, a replay), the first landed copy of a
    conflicted key can be the re-send: then the fact must hold the re-send's amount, and the
    key must be listed in int_order_event_conflicts. Returns (expected fact, those keys).
    """
    expected = {key: dict(row) for key, row in truth.items()}
    moved = set()
    for key, copies in _copies(conn).items():
        sent = min(copies, key=lambda c: c.sent_at)
        landed = min(copies, key=lambda c: c.landing_seq)
        if (sent.event_type, sent.amount, sent.currency, sent.minute) == (
            landed.event_type,
            landed.amount,
            landed.currency,
            landed.minute,
        ):
            continue
        moved.add(key)
        for copy, sign in ((sent, -1), (landed, 1)):
            row = expected.setdefault(
                (copy.minute, copy.currency),
                dict.fromkeys(MEASURES, Decimal("0.00")) | dict.fromkeys(MEASURES[3:], 0),
            )
            column = "gross_paid_amount" if copy.event_type == "paid" else "refunded_amount"
            row[column] += sign * copy.amount
            row["net_amount"] += sign * copy.amount * (1 if copy.event_type == "paid" else -1)
            count = "paid_event_count" if copy.event_type == "paid" else "refund_event_count"
            row[count] += sign
    expected = {
        k: v for k, v in expected.items() if v["paid_event_count"] or v["refund_event_count"]
    }
    return expected, moved


def drift_cents(found: dict[tuple, dict], truth: dict[tuple, dict]) -> int:
    zero = dict.fromkeys(MEASURES, Decimal(0))
    total = Decimal(0)
    for key in found.keys() | truth.keys():
        a, b = found.get(key, zero), truth.get(key, zero)
        total += abs(a["gross_paid_amount"] - b["gross_paid_amount"])
        total += abs(a["refunded_amount"] - b["refunded_amount"])
    return int(total * 100)


def assert_nothing_lost(conn: psycopg.Connection, files: list[Path]) -> int:
    """Every line of every file landed or was rejected; every landed row is accounted for.
    Returns how many lines the files hold."""
    total = 0
    for path in files:
        name = str(path.resolve())
        lines = path.read_bytes().count(b"\n")
        seen = conn.execute(
            "select count(distinct source_line) from ("
            " select source_line from raw.order_events where source_file = %s"
            " union all select source_line from raw.load_rejects where source_file = %s) as s",
            (name, name),
        ).fetchone()[0]
        assert seen == lines, f"{path.name}: {seen} of {lines} lines accounted for"
        total += lines
        read, landed, rejected, rows, rejects = conn.execute(
            "select sum(lines_read), sum(rows_landed), sum(rows_rejected),"
            " (select count(*) from raw.order_events where source_file = %s),"
            " (select count(*) from raw.load_rejects where source_file = %s)"
            " from raw.load_batches where source_file = %s",
            (name, name, name),
        ).fetchone()
        assert (read, landed, rejected) == (landed + rejected, rows, rejects), path.name
        offset = conn.execute(
            "select byte_offset, is_complete from raw.source_offsets where source_file = %s",
            (name,),
        ).fetchone()
        assert offset == (path.stat().st_size, True), path.name
    unbalanced = conn.execute(
        "select source_file from reconciliation.recon_conservation_by_file where not is_balanced"
        " union all"
        " select source_file from reconciliation.recon_conservation_by_batch where not is_balanced"
    ).fetchall()
    assert unbalanced == []
    landed, kept, duplicates, rejected = conn.execute(
        "select (select count(*) from raw.order_events),"
        " (select count(*) from intermediate.int_order_events_deduplicated),"
        " (select count(*) from intermediate.int_order_event_duplicates),"
        " (select count(*) from intermediate.int_order_events_rejected)"
    ).fetchone()
    assert landed == kept + duplicates + rejected
    return total


@dataclass(frozen=True)
class Outcome:
    drift_cents: int  # from what the contract must give; 0 whenever the assertions pass
    reordered: bool  # a conflicting re-send landed before its original
    cents_from_producer: int  # then: how far the fact is from the producer's truth
    lines: int  # in the files, every one of them landed or rejected


def assert_truth(conn: psycopg.Connection, truth: dict, files: list[Path]) -> Outcome:
    """The fact is the truth (up to re-sends landed first, each a reported conflict), every
    line is accounted for, the ledger balances and no critical check fails."""
    found = fact(conn)
    expected, moved = expected_fact(conn, truth)
    drift = drift_cents(found, expected)
    assert found == expected, f"{drift} cents of drift"
    if moved:
        listed = set(
            conn.execute(
                "select order_id, event_id from intermediate.int_order_event_conflicts"
            ).fetchall()
        )
        assert moved <= listed, "a re-send counted instead of its original, unreported"
    else:
        assert found == truth
    lines = assert_nothing_lost(conn, files)
    failing = conn.execute(
        "select expectation from dq.latest_check_status where severity = 'critical' and not success"
    ).fetchall()
    assert failing == []
    assert_nothing_left_behind(conn)
    return Outcome(drift, bool(moved), drift_cents(found, truth) if moved else 0, lines)


def assert_nothing_left_behind(conn: psycopg.Connection) -> None:
    """No run shown as running, no pipeline lock held, no committed batch left unprocessed."""
    running = conn.execute(
        "select run_id, started_at from ops.pipeline_runs where status = 'running'"
    ).fetchall()
    assert running == [], f"runs left 'running': {running}"
    locks = conn.execute(
        "select pid, objid from pg_locks where locktype = 'advisory'"
        " and database = (select oid from pg_database where datname = current_database())"
    ).fetchall()
    assert locks == [], f"advisory locks still held: {locks}"
    unprocessed = conn.execute(
        "select load_batch_id from raw.load_batches as b where not exists"
        " (select from ops.processed_batches as p where p.load_batch_id = b.load_batch_id)"
    ).fetchall()
    assert unprocessed == [], f"committed batches never recorded as processed: {unprocessed}"
