"""Crashes at the injected fault points, reruns, and two loaders at once: nothing is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from ingest.loader import FAULT_EXIT_CODE
from tests.conftest import REPO, run_cli

LINES = 50


def _write(path: Path, n: int, tag: str) -> Path:
    path.write_bytes(
        b"".join(
            b'{"event_id":"%s-%d","order_id":"o%d","event_type":"paid","amount":"1.00",'
            b'"currency":"USD","event_time":"2026-11-20T10:00:00Z"}\n' % (tag.encode(), i, i)
            for i in range(1, n + 1)
        )
    )
    return path


def _lines_landed(conn: psycopg.Connection, name: str) -> dict[int, int]:
    return dict(
        conn.execute(
            "select source_line, count(*) from raw.order_events where source_file = %s"
            " group by source_line",
            (name,),
        ).fetchall()
    )


def _assert_complete(conn: psycopg.Connection, path: Path) -> dict[int, int]:
    name = str(path.resolve())
    landed = _lines_landed(conn, name)
    assert set(landed) == set(range(1, LINES + 1)), "every line landed at least once"
    assert conn.execute(
        "select byte_offset, line_number, is_complete from raw.source_offsets"
        " where source_file = %s",
        (name,),
    ).fetchone() == (path.stat().st_size, LINES, True)
    lines, landed_rows, rows = conn.execute(
        "select sum(lines_read), sum(rows_landed),"
        " (select count(*) from raw.order_events where source_file = %s)"
        " from raw.load_batches where source_file = %s",
        (name, name),
    ).fetchone()
    assert lines == landed_rows == rows
    return landed


def test_crash_after_copy_replays_the_chunk(env, conn, tmp_path) -> None:
    path = _write(tmp_path / "a.jsonl", LINES, "a")
    crash = run_cli(
        {**env, "COUNTONCE_FAIL_AT": "after-copy", "COUNTONCE_COPY_CHUNK_ROWS": "20"},
        "ingest",
        str(path),
    )
    assert crash.returncode == FAULT_EXIT_CODE, crash.stderr
    assert "fault injected" in crash.stderr
    name = str(path.resolve())
    # The first chunk's rows committed, its offset did not.
    assert _lines_landed(conn, name) == {n: 1 for n in range(1, 21)}
    assert conn.execute("select count(*) from raw.source_offsets").fetchone()[0] == 0
    rerun = run_cli({**env, "COUNTONCE_COPY_CHUNK_ROWS": "20"}, "ingest", str(path))
    assert rerun.returncode == 0, rerun.stderr
    landed = _assert_complete(conn, path)
    assert [n for n, copies in landed.items() if copies == 2] == list(range(1, 21))


def test_crash_mid_copy_leaves_no_partial_rows(env, conn, tmp_path) -> None:
    path = _write(tmp_path / "b.jsonl", LINES, "b")
    crash = run_cli({**env, "COUNTONCE_FAIL_AT": "mid-copy"}, "ingest", str(path))
    assert crash.returncode == FAULT_EXIT_CODE, crash.stderr
    assert conn.execute("select count(*) from raw.order_events").fetchone()[0] == 0
    assert conn.execute("select count(*) from raw.load_batches").fetchone()[0] == 0
    rerun = run_cli(env, "ingest", str(path))
    assert rerun.returncode == 0, rerun.stderr
    landed = _assert_complete(conn, path)
    assert set(landed.values()) == {1}


def test_two_loaders_on_different_files_at_once(env, conn, tmp_path) -> None:
    paths = [_write(tmp_path / f"{tag}.jsonl", LINES, tag) for tag in ("p", "q")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "countonce", "ingest", str(path)],
            cwd=REPO,
            env={**env, "COUNTONCE_COPY_CHUNK_ROWS": "5"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    for path in paths:
        assert set(_assert_complete(conn, path).values()) == {1}
    assert (
        conn.execute("select count(distinct load_batch_id) from raw.load_batches").fetchone()[0]
        == 20
    )


def test_a_line_postgres_refuses_stops_the_load_with_its_place(env, migrated, tmp_path) -> None:
    # Stands in for any disagreement between ingest.validate and jsonb: a refused row.
    migrated.execute("""
        create function raw.refuse_poison() returns trigger language plpgsql as $$
        begin
            if new.record->>'event_id' = 'poison' then
                raise exception 'poisoned row' using errcode = '22P02';
            end if;
            return new;
        end $$;
        create trigger refuse_poison before insert on raw.order_events
            for each row execute function raw.refuse_poison();
    """)
    path = _write(tmp_path / "p.jsonl", 3, "ok")
    with open(path, "ab") as handle:
        handle.write(b'{"event_id":"poison"}\n')
    proc = run_cli(env, "ingest", str(path))
    assert proc.returncode == 1
    assert "PostgreSQL refused a line of" in proc.stderr and "lines 1 and 4" in proc.stderr
    assert migrated.execute("select count(*) from raw.order_events").fetchone()[0] == 0
    assert migrated.execute("select count(*) from raw.source_offsets").fetchone()[0] == 0
