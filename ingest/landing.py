"""Where the loader lands its batches: PostgreSQL (COPY, one transaction a batch) or Spark
(parquet files written with pyarrow, no JVM: the batch's row in raw.load_batches is its
commit). Both give the loader the same operations: offsets, a lock per source, and a batch
that becomes visible whole or not at all, with the rows it was handed as COPY text.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg

from countonce import locks, spark_tables
from countonce.settings import Settings
from ingest.offsets import Offset, read_offsets, record_offset
from ingest.sources import Identity

COPY_ROWS = (
    "copy raw.order_events (load_batch_id, source_file, source_line, source_offset, record,"
    " event_minute) from stdin"
)
COPY_REJECTS = (
    "copy raw.load_rejects (load_batch_id, source_file, source_line, source_offset, reason,"
    " detail, raw_text, raw_bytes) from stdin"
)
INSERT_BATCH = (
    "insert into raw.load_batches (load_batch_id, source_file, first_line, last_line,"
    " first_offset, end_offset, lines_read, rows_landed, rows_rejected, started_at)"
    " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


class Discard(Exception):
    """Raised inside a batch to leave nothing of it (a chunk that read no line)."""


class PostgresLanding:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def read_offsets(self, names: list[str]) -> dict[str, Offset]:
        return read_offsets(self.conn, names)

    def record_offset(self, name: str, offset: Offset) -> None:
        record_offset(self.conn, name, offset)

    def try_lock(self, name: str) -> bool:
        return locks.try_lock_source(self.conn, name)

    def unlock(self, name: str) -> None:
        locks.unlock_source(self.conn, name)

    @contextmanager
    def batch(self) -> Iterator[PostgresBatch]:
        """A load batch in one transaction: its rows, its rejects and its load_batches row."""
        conn = self.conn
        try:
            with conn.transaction():
                batch_id = conn.execute("select nextval('raw.load_batch_id_seq')").fetchone()[0]
                with conn.cursor() as cur:
                    with cur.copy(COPY_ROWS) as copy:
                        batch = PostgresBatch(batch_id, copy.write, cur)
                        yield batch
                    batch.finish()
        except Discard:
            pass


class PostgresBatch:
    def __init__(self, batch_id: int, write, cur: psycopg.Cursor) -> None:
        self.batch_id = batch_id
        self.write = write
        self._cur = cur
        self._ending: tuple[list[tuple], tuple] | None = None

    def commit(self, rejects: list[tuple], batch_row: tuple) -> None:
        """What goes with the rows (written once the rows' COPY has ended)."""
        self._ending = (rejects, batch_row)

    def finish(self) -> None:
        rejects, batch_row = self._ending
        if rejects:
            with self._cur.copy(COPY_REJECTS) as copy:
                for reject in rejects:
                    copy.write_row(reject)
        self._cur.execute(INSERT_BATCH, batch_row)


class SparkLanding:
    """Parquet files under the Spark tables' locations (countonce/spark_tables.py)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._locks: dict[str, object] = {}

    def read_offsets(self, names: list[str]) -> dict[str, Offset]:
        keys = {spark_tables.file_key(name): name for name in names}
        found = {}
        for row in spark_tables.read(self.settings, "raw.source_offsets", list(keys)).to_pylist():
            identity = None
            if row["inode"] is not None:
                identity = Identity(
                    row["device"], row["inode"], row["fingerprint"], row["fingerprint_bytes"]
                )
            found[row["source_file"]] = Offset(
                row["byte_offset"],
                row["line_number"],
                row["is_complete"],
                row["source_size"],
                identity,
                row["pending_bytes"],
            )
        return found

    def record_offset(self, name: str, offset: Offset) -> None:
        identity = offset.identity
        row = {
            "source_file": name,
            "byte_offset": offset.byte_offset,
            "line_number": offset.line_number,
            "is_complete": offset.is_complete,
            "source_size": offset.source_size,
            "device": identity and identity.device,
            "inode": identity and identity.inode,
            "fingerprint": identity and identity.fingerprint,
            "fingerprint_bytes": identity and identity.fingerprint_bytes,
            "pending_bytes": offset.pending_bytes,
            "updated_at": datetime.now(UTC),
        }
        spark_tables.write(self.settings, "raw.source_offsets", [row], spark_tables.file_key(name))

    def try_lock(self, name: str) -> bool:
        handle = open(self._lock_path(spark_tables.file_key(name)), "a")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._locks[name] = handle
        return True

    def unlock(self, name: str) -> None:
        handle = self._locks.pop(name, None)
        if handle is not None:
            handle.close()

    def _lock_path(self, key: str) -> Path:
        folder = self.settings.spark_dir / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{key}.lock"

    def next_batch_id(self) -> int:
        """The next load batch id, from a counter file under an exclusive lock."""
        with open(self._lock_path("load_batch_id"), "a+") as counter:
            fcntl.flock(counter, fcntl.LOCK_EX)
            counter.seek(0)
            current = int(counter.read() or 0) + 1
            counter.seek(0)
            counter.truncate()
            counter.write(str(current))
            counter.flush()
        return current

    @contextmanager
    def batch(self) -> Iterator[SparkBatch]:
        batch = SparkBatch(self, self.next_batch_id())
        try:
            yield batch
        except Discard:
            return
        batch.finish()


# A landing_seq is the batch id and the row's place in it: unique, and in landing order.
ROW_BITS = 24


class SparkBatch:
    def __init__(self, landing: SparkLanding, batch_id: int) -> None:
        self.landing = landing
        self.batch_id = batch_id
        self.started_at = datetime.now(UTC)
        self._blocks: list[bytes] = []
        self._ending: tuple[list[tuple], tuple] | None = None

    def write(self, data: bytes) -> None:
        self._blocks.append(data)

    def commit(self, rejects: list[tuple], batch_row: tuple) -> None:
        self._ending = (rejects, batch_row)

    def finish(self) -> None:
        """The rows, the rejects, then the batch's row: from then on the batch is visible."""
        settings = self.landing.settings
        rejects, batch_row = self._ending
        name = f"batch-{self.batch_id:012d}"
        rows = [self._row(n, line) for n, line in enumerate(_copy_lines(self._blocks), 1)]
        if rows:
            spark_tables.write(settings, "raw.order_events", rows, name)
        if rejects:
            spark_tables.write(
                settings,
                "raw.load_rejects",
                [
                    {
                        "reject_id": (self.batch_id << ROW_BITS) + n,
                        "load_batch_id": r[0],
                        "source_file": r[1],
                        "source_line": r[2],
                        "source_offset": r[3],
                        "reason": r[4],
                        "detail": r[5],
                        "raw_text": r[6],
                        "raw_bytes": r[7],
                        "rejected_at": self.started_at,
                    }
                    for n, r in enumerate(rejects, 1)
                ],
                name,
            )
        (
            batch_id,
            source,
            first_line,
            last_line,
            first_offset,
            end_offset,
            lines,
            landed,
            rejected,
            started_at,
        ) = batch_row
        spark_tables.write(
            settings,
            "raw.load_batches",
            [
                {
                    "load_batch_id": batch_id,
                    "source_file": source,
                    "first_line": first_line,
                    "last_line": last_line,
                    "first_offset": first_offset,
                    "end_offset": end_offset,
                    "lines_read": lines,
                    "rows_landed": landed,
                    "rows_rejected": rejected,
                    "started_at": started_at,
                    "finished_at": datetime.now(UTC),
                }
            ],
            name,
        )

    def _row(self, n: int, line: bytes) -> dict:
        _, source, source_line, offset, record, minute = line.split(b"\t")
        text = _copy_unescape(record).decode()
        fields, types = top_level_fields(text)
        return {
            "landing_seq": (self.batch_id << ROW_BITS) + n,
            "load_batch_id": self.batch_id,
            "source_file": _copy_unescape(source).decode(),
            "source_line": int(source_line),
            "source_offset": int(offset),
            "loaded_at": self.started_at,
            "record": text,
            "record_fields": fields,
            "record_types": types,
            "event_minute": None if minute == b"\\N" else datetime.fromisoformat(minute.decode()),
        }


def _copy_lines(blocks: list[bytes]) -> Iterator[bytes]:
    for block in blocks:
        yield from block.splitlines()


_UNESCAPE = {b"\\\\": b"\\", b"\\t": b"\t", b"\\n": b"\n", b"\\r": b"\r"}


def _copy_unescape(field: bytes) -> bytes:
    if b"\\" not in field:
        return field
    out, i = bytearray(), 0
    while i < len(field):
        pair = field[i : i + 2]
        if pair in _UNESCAPE:
            out += _UNESCAPE[pair]
            i += 2
        else:
            out += field[i : i + 1]
            i += 1
    return bytes(out)


class _Number(str):
    """A JSON number's literal text, kept apart from strings."""


_DECODER = json.JSONDecoder(parse_float=_Number, parse_int=_Number)


def top_level_fields(record: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """Each top-level field's text and type as PostgreSQL's jsonb gives them (`->>` and
    jsonb_typeof): a string unquoted, a number as its exact numeric text (never through a
    float), true/false, an object or array as JSON text, a JSON null as null."""
    fields: dict[str, str | None] = {}
    types: dict[str, str] = {}
    for key, value in _DECODER.decode(record).items():
        types[key], fields[key] = _typed_text(value)
    return fields, types


def _typed_text(value: object) -> tuple[str, str | None]:
    if isinstance(value, _Number):
        return "number", _numeric_text(value)
    if isinstance(value, str):
        return "string", value
    if value is True or value is False:
        return "boolean", "true" if value else "false"
    if value is None:
        return "null", None
    return ("object" if isinstance(value, dict) else "array"), _json_text(value)


def _numeric_text(literal: str) -> str:
    """PostgreSQL numeric's text of a JSON number: its exponent applied, its scale kept."""
    number = Decimal(literal)
    text = format(number, "f")
    return text.lstrip("-") if number.is_zero() else text


def _json_text(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(v) for v in value) + "]"
    if isinstance(value, _Number):
        return _numeric_text(value)
    return json.dumps(value)
