"""The loader's event_minute and raw.utc_minute() in SQL follow one rule."""

from datetime import datetime

import pytest

from ingest.event_minute import NULL, utc_minute

CASES = [
    "2026-11-26T10:01:12Z",
    "2026-11-26t10:01:12.5z",
    "2026-11-26T10:01:59.9999999Z",
    "2024-02-29T23:59:59+05:30",
    "2026-11-26T00:30:00-15:59",
    "2026-12-31T23:59:60Z",
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
]


@pytest.mark.parametrize("text", CASES)
def test_loader_and_sql_agree(migrated, text):
    in_sql = migrated.execute("select raw.utc_minute(%s)", (text,)).fetchone()[0]
    in_python = utc_minute(text)
    if in_sql is None:
        assert in_python == NULL
    else:
        parsed = datetime.fromisoformat(in_python.decode())
        assert parsed == in_sql


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
        "select record ->> 'event_id', event_minute = raw.utc_minute(record ->> 'event_time'),"
        " event_minute is null from raw.order_events order by landing_seq"
    ).fetchall()
    assert rows == [("a", True, False), ("b", None, True)]
