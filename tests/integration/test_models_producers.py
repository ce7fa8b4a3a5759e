"""Producers' sequence numbers on a real PostgreSQL: the contract of the stamp, the gaps of
dropped events, late arrivals closing them, reused numbers, and retries, replays and
reprocessed batches that change nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from test_models_support import dbt, dbt_settings, event, land

MINUTE_LATER = timedelta(minutes=1)
T0 = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)


@pytest.fixture(scope="session")
def dbt_work(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("dbt_producers")


@pytest.fixture
def models(settings, database, migrated, dbt_work):
    return dbt_settings(settings, dbt_work), database, migrated


def stamped(producer: str, sequence: int, **fields) -> dict:
    return event(
        f"{producer}-e{sequence}",
        f"o-{sequence % 7}",
        producer_id=producer,
        sequence=sequence,
        **fields,
    )


def gaps(conn, producer: str | None = None) -> list[tuple]:
    """The open gaps, as (producer_id, first_missing, last_missing)."""
    return conn.execute(
        "select producer_id, first_missing, last_missing from analytics.producer_gaps"
        " where producer_id = coalesce(%s, producer_id) order by 1, 2",
        (producer,),
    ).fetchall()


def state(conn) -> list[tuple]:
    """int_producer_gaps as it would be compared with a full refresh."""
    return conn.execute(
        "select producer_id, first_missing, last_missing, missing_count, noticed_at"
        " from intermediate.int_producer_gaps order by 1, 2"
    ).fetchall()


def completeness(conn, producer: str) -> dict:
    cur = conn.execute(
        "select * from analytics.producer_completeness where producer_id = %s", (producer,)
    )
    names = [c.name for c in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def reuses(conn) -> list[tuple]:
    return conn.execute(
        "select producer_id, sequence, kept_event_id, reusing_event_id"
        " from intermediate.int_producer_sequence_reuses order by 1, 2, 4"
    ).fetchall()


def missing_ranges(seen: set[int]) -> list[tuple[int, int]]:
    """The oracle: the ranges below max(seen) not in seen."""
    ranges, start = [], 0
    for n in sorted(seen):
        if n > start:
            ranges.append((start, n - 1))
        start = n + 1
    return ranges


REJECTED_STAMPS = [
    ({"sequence": 3}, "producer_id_missing"),
    ({"producer_id": "", "sequence": 3}, "producer_id_missing"),
    ({"producer_id": 7, "sequence": 3}, "producer_id_not_a_string"),
    ({"producer_id": "p" * 129, "sequence": 3}, "producer_id_too_long"),
    ({"producer_id": "p"}, "sequence_missing"),
    ({"producer_id": "p", "sequence": 1.5}, "sequence_not_an_integer"),
    ({"producer_id": "p", "sequence": "seven"}, "sequence_not_an_integer"),
    ({"producer_id": "p", "sequence": True}, "sequence_not_an_integer"),
    ({"producer_id": "p", "sequence": -1}, "sequence_negative"),
    ({"producer_id": "p", "sequence": 10**18}, "sequence_out_of_range"),
]
ACCEPTED_STAMPS = [
    ({}, None, None),
    ({"producer_id": "p", "sequence": 0}, "p", 0),
    ({"producer_id": "p" * 128, "sequence": 10**18 - 1}, "p" * 128, 10**18 - 1),
    # CSV gives every field as a string.
    ({"producer_id": "p", "sequence": "0042"}, "p", 42),
]


def test_the_stamp_is_checked_like_any_other_field(models):
    settings, params, conn = models
    cases = REJECTED_STAMPS + [(fields, None) for fields, _, _ in ACCEPTED_STAMPS]
    land(conn, [event(f"e{i}", **fields) for i, (fields, _) in enumerate(cases)])
    dbt(settings, params)
    rows = conn.execute(
        "select event_id, reject_reason, producer_id, sequence"
        " from staging.stg_shopflow__order_events"
    ).fetchall()
    by_event = {row[0]: row[1:] for row in rows}
    for i, (fields, reason) in enumerate(cases):
        assert by_event[f"e{i}"][0] == reason, fields
    for j, (fields, producer, sequence) in enumerate(ACCEPTED_STAMPS):
        assert by_event[f"e{len(REJECTED_STAMPS) + j}"][1:] == (producer, sequence), fields


def test_dropped_events_are_exactly_the_gaps_and_late_ones_close_them(models):
    settings, params, conn = models
    dropped = {3, 7, 8, 15}
    sent = [n for n in range(20) if n not in dropped]
    land(conn, [stamped("p1", n) for n in sent[:8]], loaded_at=T0)
    land(conn, [stamped("p1", n) for n in sent[8:]], loaded_at=T0 + MINUTE_LATER)
    dbt(settings, params)
    assert gaps(conn) == [("p1", 3, 3), ("p1", 7, 8), ("p1", 15, 15)]
    summary = completeness(conn, "p1")
    assert (summary["highest_sequence"], summary["sequences_seen"]) == (19, 16)
    assert (summary["missing_count"], summary["open_gap_count"]) == (4, 3)
    assert summary["lowest_missing"] == 3 and summary["out_of_order_count"] == 0
    noticed = dict(
        conn.execute("select first_missing, noticed_at from analytics.producer_gaps").fetchall()
    )
    # Noticed when the first number above each gap landed: 9 in the first batch, 16 later.
    assert noticed == {3: T0, 7: T0, 15: T0 + MINUTE_LATER}

    land(conn, [stamped("p1", 7)], loaded_at=T0 + 5 * MINUTE_LATER)
    dbt(settings, params)
    assert gaps(conn) == [("p1", 3, 3), ("p1", 8, 8), ("p1", 15, 15)]
    noticed_8 = conn.execute(
        "select noticed_at from analytics.producer_gaps where first_missing = 8"
    ).fetchone()[0]
    assert noticed_8 == T0  # the rest of a gap keeps its age

    land(conn, [stamped("p1", n) for n in (15, 3, 8)])
    dbt(settings, params)
    assert gaps(conn) == []
    summary = completeness(conn, "p1")
    assert (summary["sequences_seen"], summary["missing_count"]) == (20, 0)
    assert summary["out_of_order_count"] == 4 and summary["oldest_gap_noticed_at"] is None


def test_retries_replays_and_reprocessing_create_no_gap_and_no_reuse(models):
    settings, params, conn = models
    batch = [stamped("p1", n) for n in range(6)] + [stamped("p2", n) for n in (0, 2)]
    land(conn, batch + batch[:3], source_file="a.jsonl")  # retried by the producer
    dbt(settings, params, record=False)
    before = state(conn)
    assert gaps(conn) == [("p2", 1, 1)]
    dbt(settings, params, record=False)  # the run died before recording: processed again
    dbt(settings, params)
    land(conn, batch, source_file="a.jsonl")  # the operator replays the file
    dbt(settings, params)
    assert state(conn) == before
    assert reuses(conn) == []
    assert completeness(conn, "p1")["out_of_order_count"] == 0


def test_a_reused_sequence_number_is_reported(models):
    settings, params, conn = models
    land(conn, [stamped("p1", 0), stamped("p1", 1)])
    land(conn, [event("other", "o-9", producer_id="p1", sequence=1), stamped("p1", 2)])
    dbt(settings, params)
    assert reuses(conn) == [("p1", 1, "p1-e1", "other")]
    assert gaps(conn) == []
    assert completeness(conn, "p1")["reused_sequence_count"] == 1


def test_a_line_rejected_for_another_field_still_arrived(models):
    settings, params, conn = models
    land(conn, [stamped("p1", 0), stamped("p1", 1, amount="abc"), stamped("p1", 2)])
    dbt(settings, params)
    assert gaps(conn) == []
    assert (
        conn.execute("select count(*) from intermediate.int_order_events_rejected").fetchone()[0]
        == 1
    )


def test_random_arrivals_match_the_oracle_and_a_full_refresh(models):
    """Events of three producers, some dropped, the rest arriving shuffled over several
    batches with retries: after every build the gaps are exactly the missing ranges, and
    the incremental state equals a full refresh's, noticed_at included."""
    settings, params, conn = models
    rng = random.Random(22)
    events, seen = [], {}
    for producer in ("p1", "p2", "p3"):
        for n in range(rng.randint(30, 60)):
            if rng.random() < 0.85:
                events.append(stamped(producer, n))
    rng.shuffle(events)
    cuts = sorted(rng.sample(range(1, len(events)), 5))
    for k, (lo, hi) in enumerate(zip([0, *cuts], [*cuts, len(events)], strict=True)):
        batch = events[lo:hi]
        retried = rng.sample(batch, min(3, len(batch)))
        land(conn, batch + retried, loaded_at=T0 + k * MINUTE_LATER)
        dbt(settings, params)
        for record in batch:
            seen.setdefault(record["producer_id"], set()).add(record["sequence"])
        expected = [(p, a, b) for p in sorted(seen) for a, b in missing_ranges(seen[p])]
        assert gaps(conn) == expected, f"after batch {k}"
    incremental = state(conn)
    dbt(settings, params, "build", "--full-refresh", "--select", "int_producer_sequences+")
    assert state(conn) == incremental
