"""A corpus of bad lines: each one lands in raw.load_rejects with its reason, none is lost."""

from __future__ import annotations

import dataclasses
import os
import time

from ingest.loader import load

VALID = b'{"event_id":"ok","order_id":"o","event_type":"paid","amount":"1.00","currency":"USD"}'

# (line bytes without terminator, terminator, expected reason or None when it lands)
CORPUS = [
    (b"\xef\xbb\xbf" + VALID, b"\n", None),  # BOM at the start of the file: stripped
    (VALID, b"\r\n", None),  # CRLF
    (b'{"amount":123456789012345678901234567890.12,"huge":1e309}', b"\n", None),
    (b'{"a":"\\\\u0000 stays text","tab":"\\t"}', b"\n", None),
    (b'{"a":\t1}', b"\n", None),  # a tab is JSON whitespace, and COPY must escape it
    (b'{"a":"back\\\\slash"}', b"\n", None),
    (b"", b"\n", "empty_line"),
    (b"   ", b"\r\n", "empty_line"),
    (b'{"event_id":"x"', b"\n", "invalid_json"),
    (b'{"amount":NaN}', b"\n", "invalid_json"),
    (b'{"amount":Infinity}', b"\n", "invalid_json"),
    (b"\\.", b"\n", "invalid_json"),  # COPY's end-of-data marker must not end the COPY
    (b'["an","array"]', b"\n", "not_an_object"),
    (b"42", b"\n", "not_an_object"),
    (b'{"event_id":"caf\xe9"}', b"\n", "invalid_utf8"),
    (b'{"event_id":"a","event_id":"b"}', b"\n", "duplicate_key"),
    (b'{"x":{"k":1,"k":2}}', b"\n", "duplicate_key"),
    (b'{"a":"\\u0000"}', b"\n", "nul_character"),
    (b'{"a":"x\x00y"}', b"\n", "nul_character"),
    (b'{"a":"\\udc00"}', b"\n", "invalid_surrogate"),
    (b'{"a":1e200000}', b"\n", "number_out_of_range"),
    (b'{"pad":"' + b"x" * 300 + b'"}', b"\n", "line_too_long"),
    (b"[" * 3000 + b"]" * 3000, b"\n", "line_too_long"),
    (b'{"event_id":"trunc', b"", "invalid_json"),  # truncated last line, file settled
]


def test_every_bad_line_is_rejected_with_its_reason(settings, database, conn, tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b"".join(line + end for line, end, _ in CORPUS))
    past = time.time() - 3600
    os.utime(path, (past, past))
    settings = dataclasses.replace(
        settings, max_line_bytes=200, reject_text_bytes=64, copy_chunk_rows=7
    )
    summary = load(settings, database, [str(path)])
    expected_rejects = {n: r for n, (_, _, r) in enumerate(CORPUS, start=1) if r}
    assert summary.lines_read == len(CORPUS)
    assert summary.rejected == len(expected_rejects)
    assert summary.landed == len(CORPUS) - len(expected_rejects)

    rejects = conn.execute(
        "select source_line, source_offset, reason, detail, raw_text, raw_bytes"
        " from raw.load_rejects order by source_line"
    ).fetchall()
    assert {line: reason for line, _, reason, *_ in rejects} == expected_rejects
    data = path.read_bytes()
    starts = [0]
    for line, end, _ in CORPUS:
        starts.append(starts[-1] + len(line) + len(end))
    for line_no, offset, _reason, detail, raw_text, raw_bytes in rejects:
        original = CORPUS[line_no - 1][0]
        assert offset == starts[line_no - 1]
        assert raw_bytes == len(original)
        assert detail
        assert len(raw_text.encode()) <= 64 * 4  # truncated; escapes may widen bytes
        assert "\x00" not in raw_text
    invalid_utf8 = next(r for r in rejects if r[2] == "invalid_utf8")
    assert "\\xe9" in invalid_utf8[4]

    landed = conn.execute(
        "select source_line, source_offset, record from raw.order_events order by source_line"
    ).fetchall()
    assert [line for line, *_ in landed] == [
        n for n in range(1, len(CORPUS) + 1) if n not in expected_rejects
    ]
    assert landed[0][1] == 0 and landed[0][2]["event_id"] == "ok"
    assert all(offset == starts[line - 1] for line, offset, _ in landed)
    assert conn.execute(
        "select (record->>'amount')::numeric = 123456789012345678901234567890.12"
        " and (record->>'huge')::numeric = 1e309 from raw.order_events where source_line = 3"
    ).fetchone()[0]
    assert landed[3][2] == {"a": "\\u0000 stays text", "tab": "\t"}
    assert landed[5][2] == {"a": "back\\slash"}
    assert data.endswith(b'{"event_id":"trunc')

    # The ledger balances in SQL, per file and per batch.
    (unbalanced,) = conn.execute(
        """
        select count(*) from raw.load_batches as b
        where b.lines_read <> b.rows_landed + b.rows_rejected
           or b.rows_landed <> (select count(*) from raw.order_events as e
                                where e.load_batch_id = b.load_batch_id)
           or b.rows_rejected <> (select count(*) from raw.load_rejects as r
                                  where r.load_batch_id = b.load_batch_id)
        """
    ).fetchone()
    assert unbalanced == 0
    per_file = conn.execute(
        "select sum(lines_read), sum(rows_landed), sum(rows_rejected), count(*),"
        " min(first_line), max(last_line), max(end_offset)"
        " from raw.load_batches where source_file = %s",
        (str(path.resolve()),),
    ).fetchone()
    assert per_file == (len(CORPUS), summary.landed, summary.rejected, 4, 1, len(CORPUS), len(data))
    assert conn.execute("select byte_offset, is_complete from raw.source_offsets").fetchone() == (
        len(data),
        True,
    )


def test_bad_csv_records(settings, database, conn, tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b'event_id,order_id\ne1,o1\ne2\ne3,o3,extra\ne\xff,o4\ne5,o\x005\n"unterminated,o6\n'
    )
    os.utime(path, (time.time() - 3600,) * 2)
    summary = load(settings, database, [str(path)])
    assert (summary.lines_read, summary.landed, summary.rejected) == (6, 1, 5)
    reasons = dict(conn.execute("select source_line, reason from raw.load_rejects").fetchall())
    assert reasons == {
        3: "csv_field_count",
        4: "csv_field_count",
        5: "invalid_utf8",
        6: "nul_character",
        7: "csv_field_count",
    }
