"""Each source kind against the real database: files, CSV, gzip, inbox, stdin, growing files."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import time
from pathlib import Path

import psycopg

from countonce.settings import Settings
from ingest.loader import load
from tests.conftest import run_cli


def _lines(n: int, start: int = 1) -> bytes:
    return b"".join(
        b'{"event_id":"e%d","order_id":"o%d","event_type":"paid","amount":"%d.50",'
        b'"currency":"USD","event_time":"2026-11-20T10:00:%02dZ"}\n' % (i, i, i, i % 60)
        for i in range(start, start + n)
    )


def _balance(conn: psycopg.Connection) -> dict[str, tuple[int, int, int, int, int]]:
    """Per file: lines read, landed and rejected by the batch ledger, then by the tables."""
    ledger = conn.execute(
        """
        select b.source_file, b.lines_read, b.landed, b.rejected,
               (select count(*) from raw.order_events e where e.source_file = b.source_file),
               (select count(*) from raw.load_rejects r where r.source_file = b.source_file)
        from (select source_file, sum(lines_read)::int as lines_read,
                     sum(rows_landed)::int as landed, sum(rows_rejected)::int as rejected
              from raw.load_batches group by source_file) as b
        """
    ).fetchall()
    result = {}
    for name, lines, landed, rejected, rows, rejects in ledger:
        assert lines == landed + rejected == rows + rejects, name
        result[name] = (lines, landed, rejected)
    return result


def _offset(conn: psycopg.Connection, name: str) -> tuple[int, int, bool] | None:
    return conn.execute(
        "select byte_offset, line_number, is_complete from raw.source_offsets"
        " where source_file = %s",
        (name,),
    ).fetchone()


def test_jsonl_file_lands_every_line_once(settings: Settings, database, conn, tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(_lines(25))
    settings = dataclasses.replace(settings, copy_chunk_rows=10)
    summary = load(settings, database, [str(path)])
    assert summary.as_dict()["lines_read"] == 25 and summary.landed == 25
    assert summary.batches == 3 and summary.rejected == 0
    name = str(path.resolve())
    assert _balance(conn) == {name: (25, 25, 0)}
    assert _offset(conn, name) == (path.stat().st_size, 25, True)
    rows = conn.execute(
        "select source_line, source_offset, record->>'event_id'"
        " from raw.order_events order by landing_seq"
    ).fetchall()
    data = path.read_bytes()
    for line_no, offset, event_id in rows:
        assert data[offset:].startswith(b'{"event_id":"%s"' % event_id.encode())
        assert event_id == f"e{line_no}"
    again = load(settings, database, [str(path)])
    assert again.lines_read == 0 and again.files == 0


def test_numbers_land_exactly(settings: Settings, database, conn, tmp_path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_bytes(b'{"amount":123456789012345678901234567890.12,"big":1e309,"s":"65.00"}\n')
    load(settings, database, [str(path)])
    exact, big, text = conn.execute(
        "select (record->>'amount')::numeric = 123456789012345678901234567890.12,"
        " (record->>'big')::numeric = 1e309, jsonb_typeof(record->'s')"
        " from raw.order_events"
    ).fetchone()
    assert exact and big and text == "string"


def test_csv_rows_become_objects_of_strings(settings: Settings, database, conn, tmp_path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(
        b"\xef\xbb\xbfevent_id,order_id,event_type,amount,currency,event_time,note\r\n"
        b"e1,o1,paid,65.00,USD,2026-11-20T10:00:00Z,plain\r\n"
        b'e2,o2,created,,,2026-11-20T10:00:01Z,"with, comma\nand a newline"\r\n'
        b"e3,o3,paid,1.00,USD\r\n"
        b"\r\n"
        b'e4,o4,paid,2.00,EUR,2026-11-20T10:00:02Z,"quote ""inside"" \\ back"\r\n'
    )
    summary = load(settings, database, [str(path)])
    assert (summary.lines_read, summary.landed, summary.rejected) == (5, 3, 2)
    records = dict(
        conn.execute(
            "select source_line, record from raw.order_events order by source_line"
        ).fetchall()
    )
    assert records[2] == {
        "event_id": "e1",
        "order_id": "o1",
        "event_type": "paid",
        "amount": "65.00",
        "currency": "USD",
        "event_time": "2026-11-20T10:00:00Z",
        "note": "plain",
    }
    assert records[3]["note"] == "with, comma\nand a newline"
    assert "amount" not in records[3]  # empty cells are left out
    assert records[7]["note"] == 'quote "inside" \\ back'
    rejects = dict(conn.execute("select source_line, reason from raw.load_rejects").fetchall())
    assert rejects == {5: "csv_field_count", 6: "empty_line"}
    name = str(path.resolve())
    assert _balance(conn) == {name: (5, 3, 2)}
    assert _offset(conn, name) == (path.stat().st_size, 7, True)


def test_csv_with_a_broken_header_rejects_every_record(settings, database, conn, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("event_id,event_id\ne1,e2\ne3,e4\n")
    summary = load(settings, database, [str(path)])
    assert (summary.landed, summary.rejected) == (0, 2)
    reasons = {r for (r,) in conn.execute("select reason from raw.load_rejects")}
    assert reasons == {"csv_bad_header"}


def test_csv_resumes_after_its_header(settings: Settings, database, conn, tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("event_id,order_id\ne1,o1\n")
    load(settings, database, [str(path)])
    with open(path, "a") as handle:
        handle.write("e2,o2\n")
    summary = load(settings, database, [str(path)])
    assert summary.landed == 1
    assert conn.execute("select record from raw.order_events where source_line = 3").fetchone()[
        0
    ] == {"event_id": "e2", "order_id": "o2"}


def test_gzip_offsets_count_uncompressed_bytes(settings, database, conn, tmp_path) -> None:
    path = tmp_path / "e.jsonl.gz"
    first = _lines(7)
    path.write_bytes(gzip.compress(first))
    load(settings, database, [str(path)])
    name = str(path.resolve())
    assert _offset(conn, name) == (len(first), 7, True)
    assert load(settings, database, [str(path)]).lines_read == 0
    with open(path, "ab") as handle:  # a growing .gz gets another member
        handle.write(gzip.compress(_lines(3, start=8)))
    summary = load(settings, database, [str(path)])
    assert summary.landed == 3
    assert _offset(conn, name) == (len(first) + len(_lines(3, start=8)), 10, True)
    assert _balance(conn) == {name: (10, 10, 0)}
    csv_gz = tmp_path / "f.csv.gz"
    csv_gz.write_bytes(gzip.compress(b"event_id,order_id\ne1,o1\n"))
    assert load(settings, database, [str(csv_gz)]).landed == 1


def test_inbox_loads_event_files_in_name_order(settings, database, conn, tmp_path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "b.jsonl").write_bytes(_lines(2, start=10))
    (inbox / "a.jsonl").write_bytes(_lines(3))
    (inbox / "c.csv").write_text("event_id,order_id\ne20,o20\n")
    (inbox / "d.ndjson.gz").write_bytes(gzip.compress(_lines(1, start=30)))
    for skipped in (".hidden.jsonl", "_tmp.jsonl", "notes.txt", "truth.csv", "x.jsonl.part"):
        (inbox / skipped).write_bytes(_lines(1, start=99))
    summary = load(settings, database, [str(inbox)])
    assert (summary.files, summary.landed) == (4, 7)
    order = [
        Path(n).name
        for (n,) in conn.execute("select source_file from raw.load_batches order by load_batch_id")
    ]
    assert order == ["a.jsonl", "b.jsonl", "c.csv", "d.ndjson.gz"]
    assert load(settings, database, [str(inbox)]).files == 0
    with open(inbox / "a.jsonl", "ab") as handle:
        handle.write(_lines(2, start=4))
    again = load(settings, database, [str(inbox)])
    assert (again.files, again.landed) == (1, 2)


def test_stdin_through_the_cli(cli, conn) -> None:
    proc = cli("ingest", "-", "--json", input=_lines(4).decode() + "not json\n")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert {k: summary[k] for k in ("lines_read", "landed", "rejected", "batches")} == {
        "lines_read": 5,
        "landed": 4,
        "rejected": 1,
        "batches": 1,
    }
    assert isinstance(summary["seconds"], float)
    (name,) = conn.execute("select distinct source_file from raw.order_events").fetchone()
    assert name.startswith("stdin:")
    assert _offset(conn, name)[2] is True


def test_csv_on_stdin(cli, conn) -> None:
    proc = cli("ingest", "-", "--csv-stdin", input="event_id,order_id\ne1,o1\n")
    assert proc.returncode == 0, proc.stderr
    assert "1 landed" in proc.stdout
    assert conn.execute("select record from raw.order_events").fetchone()[0] == {
        "event_id": "e1",
        "order_id": "o1",
    }


def test_cli_without_sources_loads_the_inbox(env, conn, tmp_path) -> None:
    inbox = tmp_path / "box"
    inbox.mkdir()
    (inbox / "x.jsonl").write_bytes(_lines(3))
    proc = run_cli({**env, "COUNTONCE_INBOX": str(inbox)}, "ingest")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ingested 1 source(s): 3 lines read, 3 landed, 0 rejected")


def test_a_growing_inbox_file_resumes_and_holds_a_partial_line(settings, database, conn, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "g.jsonl"
    path.write_bytes(_lines(5))
    load(settings, database, [str(inbox)])
    name = str(path.resolve())
    partial = b'{"event_id":"e9","order_id":"o9","event_'
    with open(path, "ab") as handle:
        handle.write(_lines(3, start=6) + partial)
    summary = load(settings, database, [str(inbox)])  # the writer is mid-line: leave it
    assert summary.landed == 3 and summary.rejected == 0
    assert (summary.held_back_lines, summary.held_back_bytes) == (1, len(partial))
    assert "1 unterminated last line(s) held back, pending" in str(summary)
    held_at = path.stat().st_size - len(partial)
    assert _offset(conn, name) == (held_at, 8, False)
    assert _pending(conn, name) == len(partial)
    with open(path, "ab") as handle:
        handle.write(b'type":"paid"}\n')
    summary = load(settings, database, [str(inbox)])
    assert summary.landed == 1 and summary.held_back_lines == 0
    row = conn.execute(
        "select source_line, source_offset, record->>'event_id'"
        " from raw.order_events order by landing_seq desc limit 1"
    ).fetchone()
    assert row == (9, held_at, "e9")
    assert _offset(conn, name) == (path.stat().st_size, 9, True)
    assert _pending(conn, name) == 0
    assert _balance(conn) == {name: (9, 9, 0)}


def test_a_held_back_line_lands_once_its_file_settles(settings, database, conn, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "complete.jsonl"
    path.write_bytes(_lines(2) + _lines(1, start=3).rstrip(b"\n"))
    assert load(settings, database, [str(inbox)]).held_back_lines == 1
    past = time.time() - 3600
    os.utime(path, (past, past))
    summary = load(settings, database, [str(inbox)])
    assert (summary.landed, summary.held_back_lines) == (1, 0)
    assert _pending(conn, str(path.resolve())) == 0


def test_a_file_named_on_its_own_is_read_to_its_end(settings, database, conn, tmp_path):
    """Written a moment ago, its last line without a newline: a one-shot ingest of it lands
    every line (only an inbox holds back the last line of a file that may still grow)."""
    path = tmp_path / "fresh.jsonl"
    path.write_bytes(_lines(4) + _lines(1, start=5).rstrip(b"\n"))
    summary = load(settings, database, [str(path)])
    assert (summary.lines_read, summary.landed, summary.held_back_lines) == (5, 5, 0)
    assert _offset(conn, str(path.resolve())) == (path.stat().st_size, 5, True)


def test_a_rotated_file_is_read_from_its_start(settings, database, conn, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(_lines(5))
    load(settings, database, [str(path)])
    path.rename(tmp_path / "events.jsonl.1")
    path.write_bytes(_lines(12, start=100))
    summary = load(settings, database, [str(path)])
    assert (summary.lines_read, summary.landed, summary.rejected) == (12, 12, 0)
    landed = {row[0] for row in conn.execute("select record ->> 'event_id' from raw.order_events")}
    assert {f"e{i}" for i in range(100, 112)} <= landed


def test_a_file_rewritten_shorter_is_read_from_its_start(settings, database, conn, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(_lines(8))
    load(settings, database, [str(path)])
    with open(path, "r+b") as handle:  # same file (inode), new and shorter content
        handle.truncate(0)
        handle.write(_lines(3, start=50))
    summary = load(settings, database, [str(path)])
    assert (summary.lines_read, summary.landed) == (3, 3)


def test_a_file_rewritten_in_place_with_new_first_bytes_is_read_from_its_start(
    settings, database, conn, tmp_path
):
    path = tmp_path / "events.jsonl"
    path.write_bytes(_lines(3))
    load(settings, database, [str(path)])
    with open(path, "r+b") as handle:
        handle.write(_lines(6, start=70))  # longer, other first bytes, same inode
    summary = load(settings, database, [str(path)])
    assert (summary.lines_read, summary.landed) == (6, 6)


def _pending(conn: psycopg.Connection, name: str) -> int:
    return conn.execute(
        "select pending_bytes from raw.source_offsets where source_file = %s", (name,)
    ).fetchone()[0]


def test_unterminated_last_line_of_a_settled_file_is_not_lost(
    settings, database, conn, tmp_path
) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_bytes(_lines(2) + b'{"event_id":"last"}')
    bad.write_bytes(_lines(2) + b'{"event_id":"cut off')
    past = time.time() - 3600
    for path in (good, bad):
        os.utime(path, (past, past))
    summary = load(settings, database, [str(good), str(bad)])
    assert (summary.lines_read, summary.landed, summary.rejected) == (6, 5, 1)
    assert conn.execute("select source_line, reason from raw.load_rejects").fetchone() == (
        3,
        "invalid_json",
    )
    for path in (good, bad):
        assert _offset(conn, str(path.resolve())) == (path.stat().st_size, 3, True)


def test_from_start_replays_a_file(settings: Settings, database, conn, tmp_path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(_lines(4))
    load(settings, database, [str(path)])
    summary = load(settings, database, [str(path)], from_start=True)
    assert summary.landed == 4
    assert _balance(conn) == {str(path.resolve()): (8, 8, 0)}


def test_missing_source_is_a_clear_error(cli, tmp_path) -> None:
    proc = cli("ingest", str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 1
    assert "no such file or directory" in proc.stderr


def test_unknown_fault_point_is_refused(env, tmp_path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(_lines(1))
    proc = run_cli({**env, "COUNTONCE_FAIL_AT": "sometimes"}, "ingest", str(path))
    assert proc.returncode == 1 and "COUNTONCE_FAIL_AT" in proc.stderr
