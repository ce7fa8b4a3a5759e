"""The at-least-once loader: chunks of lines landed in raw.order_events, offsets after.

Each chunk commits its landing rows, its rejects and its raw.load_batches row together (one
transaction on PostgreSQL; on Spark, the batch's row written last: ingest/landing.py); the
source offset is recorded afterwards, on its own. A crash between the two replays that chunk
on the next run: duplicates, which dbt removes, never a lost line.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import BinaryIO

import psycopg

from countonce import db
from countonce.migrate import migrate
from countonce.settings import Settings
from ingest.chunk import Chunk, Limits, Position
from ingest.csvlines import fill_csv, read_header
from ingest.jsonlines import fill_jsonl
from ingest.landing import Discard, PostgresLanding, SparkLanding
from ingest.offsets import Offset, is_loaded, why_read_again
from ingest.progress import Progress
from ingest.sources import Source, SourceError, file_identity, resolve

log = logging.getLogger(__name__)

FAIL_POINTS = ("after-copy", "mid-copy")
FAULT_EXIT_CODE = 75


@dataclass
class LoadSummary:
    lines_read: int = 0
    landed: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    files: int = 0
    # Unterminated last lines of inbox files still being written: pending, read once settled.
    held_back_lines: int = 0
    held_back_bytes: int = 0

    def as_dict(self) -> dict[str, int | float]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}

    def __str__(self) -> str:
        rate = self.lines_read / self.seconds if self.seconds else 0.0
        line = (
            f"ingested {self.files} source(s): {self.lines_read:,} lines read, "
            f"{self.landed:,} landed, {self.rejected:,} rejected, {self.batches} batch(es) "
            f"in {self.seconds:.2f} s ({rate:,.0f} lines/s)"
        )
        if self.held_back_lines:
            line += (
                f"; {self.held_back_lines} unterminated last line(s) held back, pending"
                f" ({self.held_back_bytes:,} bytes) until the file settles"
            )
        return line


def load(
    settings: Settings,
    params: dict[str, str],
    sources: list[str],
    *,
    progress: bool = False,
    from_start: bool = False,
    stdin_csv: bool = False,
) -> LoadSummary:
    """Load files, inbox directories and `-` (stdin) into raw.order_events.

    from_start: read files again from their first byte (an operator's replay), ignoring the
    recorded offsets. stdin_csv: stdin carries CSV rather than JSON Lines.
    """
    if settings.fail_at and settings.fail_at not in FAIL_POINTS:
        raise ValueError(f"COUNTONCE_FAIL_AT={settings.fail_at!r}: expected one of {FAIL_POINTS}")
    started = time.monotonic()
    resolved = resolve(sources, stdin_csv=stdin_csv)
    summary = LoadSummary()
    with _landing(settings, params) as landing:
        loader = _Loader(landing, settings, summary, from_start)
        pending = loader.pending(resolved)
        loader.progress = Progress(progress, _total_bytes(pending))
        try:
            for source, position in pending:
                loader.load_source(source, position)
        finally:
            loader.progress.close()
    summary.seconds = time.monotonic() - started
    log.info("load finished", extra=summary.as_dict())
    return summary


@contextmanager
def _landing(
    settings: Settings, params: dict[str, str]
) -> Iterator[PostgresLanding | SparkLanding]:
    if settings.on_spark:
        yield SparkLanding(settings)
        return
    with db.connect(params, autocommit=True) as conn:
        conn.execute("set client_encoding to 'UTF8'")  # COPY data is sent as UTF-8 bytes
        migrate(conn)
        yield PostgresLanding(conn)


def _total_bytes(pending: list[tuple[Source, Position]]) -> int | None:
    if any(source.path is None or source.is_gzip for source, _ in pending):
        return None
    return sum(source.disk_size() - position.offset for source, position in pending)


class _Loader:
    def __init__(
        self,
        landing: PostgresLanding | SparkLanding,
        settings: Settings,
        summary: LoadSummary,
        from_start: bool,
    ) -> None:
        self.landing = landing
        self.settings = settings
        self.summary = summary
        self.from_start = from_start
        self.progress = Progress(False)
        self.limits = Limits(
            max_line_bytes=settings.max_line_bytes,
            reject_text_bytes=settings.reject_text_bytes,
            chunk_rows=max(1, settings.copy_chunk_rows),
        )

    def pending(self, sources: list[Source]) -> list[tuple[Source, Position]]:
        """The sources with something new to read, each with where to start."""
        recorded = self.landing.read_offsets([s.name for s in sources])
        todo = []
        for source in sources:
            offset = None if self.from_start else self._resumable(source, recorded)
            if is_loaded(offset, source.disk_size(), source.is_gzip):
                continue
            # A .gz that grew was appended to (a new gzip member): its uncompressed offset holds.
            position = Position(offset.byte_offset, offset.line_number) if offset else Position()
            todo.append((source, position))
        return todo

    def _resumable(self, source: Source, recorded: dict[str, Offset]) -> Offset | None:
        """The recorded offset of the source, unless the file at its path is not the file it
        was recorded for: then None, and the file is read from its start."""
        offset = recorded.get(source.name)
        if offset is None or source.path is None:
            return offset
        why = why_read_again(offset, source, source.disk_size())
        if why is None:
            return offset
        log.warning(
            "reading the file from its start: " + why,
            extra={"source_file": source.name, "byte_offset": offset.byte_offset},
        )
        return None

    def load_source(self, source: Source, pos: Position) -> None:
        if not self.landing.try_lock(source.name):
            log.warning(
                "another loader holds this source; skipped", extra={"source_file": source.name}
            )
            return
        try:
            if not self.from_start:  # another loader may have moved on since we listed
                recorded = self._resumable(source, self.landing.read_offsets([source.name]))
                if recorded and recorded.byte_offset > pos.offset:
                    pos = Position(recorded.byte_offset, recorded.line_number)
            self._read(source, pos)
        finally:
            self.landing.unlock(source.name)

    def _hold_partial(self, source: Source) -> bool:
        if not source.can_grow:
            return False
        age = time.time() - source.path.stat().st_mtime
        return age < self.settings.settle_seconds

    def _read(self, source: Source, pos: Position) -> None:
        hold = self._hold_partial(source)
        identity = file_identity(source.path) if source.path else None
        self.progress.file(source.path.name if source.path else "stdin")
        before = (
            self.summary.lines_read,
            self.summary.landed,
            self.summary.rejected,
            self.summary.batches,
        )
        try:
            stream = source.open(pos.offset)
            try:
                header = self._csv_header(source, stream, pos) if source.is_csv else []
                at_end = False
                while not at_end:
                    at_end = self._chunk(source, stream, pos, header, hold)
                    size = source.disk_size()
                    held = size - pos.offset if at_end and hold and size > pos.offset else 0
                    complete = at_end and (not source.can_grow or pos.offset >= size)
                    self.landing.record_offset(
                        source.name, Offset(pos.offset, pos.line, complete, size, identity, held)
                    )
                if held:
                    self.summary.held_back_lines += 1
                    self.summary.held_back_bytes += held
                    log.warning(
                        "an unterminated last line is held back until the file has been quiet"
                        " for COUNTONCE_SETTLE_SECONDS; it is pending, not lost",
                        extra={"source_file": source.name, "pending_bytes": held},
                    )
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()
        except (OSError, EOFError) as exc:
            raise SourceError(f"cannot read {source.name}: {exc}") from exc
        self.summary.files += 1
        after = (
            self.summary.lines_read,
            self.summary.landed,
            self.summary.rejected,
            self.summary.batches,
        )
        lines, landed, rejected, batches = (a - b for a, b in zip(after, before, strict=True))
        self.progress.clear()
        log.info(
            "source loaded",
            extra={
                "source_file": source.name,
                "lines_read": lines,
                "landed": landed,
                "rejected": rejected,
                "batches": batches,
                "byte_offset": pos.offset,
            },
        )

    def _csv_header(self, source: Source, stream: BinaryIO, pos: Position) -> list[str]:
        """The header: consumed from `stream` at the start, else re-read from the file."""
        if pos.offset == 0:
            return read_header(stream, pos, self.limits.max_line_bytes)
        with source.open(0) as again:
            return read_header(again, Position(), self.limits.max_line_bytes)

    def _chunk(
        self, source: Source, stream: BinaryIO, pos: Position, header: list[str], hold: bool
    ) -> bool:
        """Commit one load batch; True when the source has no more to read now."""
        started_at = datetime.now(UTC)
        first_line = pos.line + 1
        try:
            return self._commit_chunk(source, stream, pos, header, hold, started_at)
        except psycopg.DataError as exc:
            # The checks in ingest.validate mirror what jsonb accepts; should PostgreSQL
            # still refuse a line, stop with the place named rather than skip anything.
            raise SourceError(
                f"PostgreSQL refused a line of {source.name} between lines {first_line} and "
                f"{pos.line} (nothing of that batch was kept): {str(exc).strip()}"
            ) from exc

    def _commit_chunk(
        self,
        source: Source,
        stream: BinaryIO,
        pos: Position,
        header: list[str],
        hold: bool,
        started_at: datetime,
    ) -> bool:
        first_line, first_offset = pos.line + 1, pos.offset
        with self.landing.batch() as batch:
            batch_id = batch.batch_id
            chunk = Chunk(
                batch_id, source.name, batch.write, self.limits, on_block=self._block_written
            )
            if source.is_csv:
                at_end = fill_csv(stream, chunk, pos, header, hold_partial=hold)
            else:
                at_end = fill_jsonl(stream, chunk, pos, hold_partial=hold)
            if chunk.lines == 0:
                raise Discard
            batch.commit(
                chunk.rejects,
                (
                    batch_id,
                    source.name,
                    first_line,
                    pos.line,
                    first_offset,
                    pos.offset,
                    chunk.lines,
                    chunk.landed,
                    chunk.rejected,
                    started_at,
                ),
            )
        if chunk.lines:
            self.summary.lines_read += chunk.lines
            self.summary.landed += chunk.landed
            self.summary.rejected += chunk.rejected
            self.summary.batches += 1
            log.debug(
                "batch committed",
                extra={
                    "load_batch_id": batch_id,
                    "source_file": source.name,
                    "lines_read": chunk.lines,
                },
            )
            if self.settings.fail_at == "after-copy":
                _die("after-copy", batch_id)
        return at_end

    def _block_written(self, nbytes: int, nrows: int) -> None:
        self.progress.advance(nbytes, nrows)
        if self.settings.fail_at == "mid-copy":
            _die("mid-copy", None)


def _die(point: str, batch_id: int | None) -> None:
    """Fault injection: end the process at once, as a crash would (no cleanup, no commit)."""
    log.error("fault injected: exiting", extra={"fail_at": point, "load_batch_id": batch_id})
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(FAULT_EXIT_CODE)
