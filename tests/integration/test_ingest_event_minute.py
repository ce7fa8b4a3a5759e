"""The loader's event_minute, the contract's rule for a valid event time, against
PostgreSQL's own reading of the same text: equal minutes wherever PostgreSQL's cast would
put the instant in the text's minute, and where it would not (a leap second, a fraction
finer than a microsecond), the text's own minute, as documented."""

from datetime import datetime

import pytest

from ingest.event_minute import NULL, utc_minute

# text -> the minute PostgreSQL's cast lands in, when it differs from the text's own
CASES = {
    "2026-11-26T10:01:12Z": None,
    "2026-11-26t10:01:12.5z": None,
    "2024-02-29T23:59:59+05:30": None,
    "2026-11-26T00:30:00-15:59": None,
    "2026-11-26T10:01:59.999999Z": None,
    # PostgreSQL rolls both over into the next minute; the text says the earlier one.
    "2026-11-26T10:40:59.9999999Z": "2026-11-26 10:41:00+00",
    "2016-12-31T23:59:60Z": "2017-01-01 00:00:00+00",
}
NOT_TIMES = [
    "2023-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-11-26T10:01:12",
    "2026-11-26 10:01:12Z",
    "2026-11-26T10:01:12+16:00",
    "2026-11-26T24:00:00Z",
    "2026-13-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "1764151272",
    "yesterday",
    "",
    # Digits other than ASCII: Python's \d and int() accept them, PostgreSQL does not.
    "２０２４-06-15T10:01:12Z",
    "2024-06-15T10:01:١٢Z",
]


def minute(text: str) -> datetime:
    return datetime.fromisoformat(utc_minute(text).decode())


@pytest.mark.parametrize("text", list(CASES))
def test_the_minute_is_the_texts_own(migrated, text):
    in_sql = migrated.execute(
        "select date_trunc('minute', %s::timestamptz at time zone 'UTC') at time zone 'UTC'",
        (text,),
    ).fetchone()[0]
    expected = CASES[text]
    if expected is None:
        assert minute(text) == in_sql
    else:
        assert in_sql == datetime.fromisoformat(expected)
        assert minute(text) == datetime.fromisoformat(text[:16].replace("t", "T") + ":00+00:00")


@pytest.mark.parametrize("text", NOT_TIMES)
def test_a_text_that_is_not_an_rfc3339_time_has_no_minute(text):
    assert utc_minute(text) == NULL


def test_non_strings_have_no_minute():
    assert utc_minute(1764151272) == NULL
    assert utc_minute(None) == NULL


def test_loaded_rows_carry_their_minute(migrated, settings, database, tmp_path):
    from ingest.loader import load

    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"event_id":"a","order_id":"o","event_type":"paid","event_time":"2026-11-26T10:01:12Z"}\n'
        '{"event_id":"b","order_id":"o","event_type":"paid","event_time":"not a time"}\n'
    )
    load(settings, database, [str(path)])
    rows = migrated.execute(
        "select record ->> 'event_id', event_minute from raw.order_events order by landing_seq"
    ).fetchall()
    assert rows == [("a", datetime.fromisoformat("2026-11-26 10:01:00+00:00")), ("b", None)]
