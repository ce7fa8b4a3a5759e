"""CSV with the event contract's column names, turned into JSON objects of strings.

The header (line 1) names the fields; each data record becomes one object, empty cells
left out (CSV cannot tell an empty string from a missing value). A record may span
several physical lines when a quoted field holds a newline; it is counted as one line read
and carries the number of its first physical line. The header itself is not counted.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from typing import BinaryIO

from ingest.chunk import BLOCK_BYTES, Chunk, Position
from ingest.event_minute import utc_minute
from ingest.validate import (
    BOM,
    CSV_BAD_HEADER,
    CSV_FIELD_COUNT,
    EMPTY_LINE,
    INVALID_CSV,
    INVALID_UTF8,
    LINE_TOO_LONG,
    NUL_CHARACTER,
    Rejection,
)

_BAD_BYTES = re.compile("[\udc80-\udcff]")  # what surrogateescape made of invalid UTF-8

csv.field_size_limit(sys.maxsize)  # records are bounded by max_line_bytes instead


class _PhysicalLines:
    """Feeds csv.reader one decoded line at a time while tracking bytes and line numbers."""

    def __init__(
        self, stream: BinaryIO, pos: Position, max_line_bytes: int, hold_partial: bool
    ) -> None:
        self.readline = stream.readline
        self.pos = pos
        self.read_limit = max_line_bytes + 1
        self.hold_partial = hold_partial
        self.raw: list[bytes] = []
        self.record_bytes = 0
        self.overlong = False
        self.held = False

    def start_record(self) -> None:
        self.raw.clear()
        self.record_bytes = 0
        self.overlong = False

    def __iter__(self) -> _PhysicalLines:
        return self

    def __next__(self) -> str:
        raw = self.readline(self.read_limit)
        if not raw:
            raise StopIteration
        size = len(raw)
        if raw[-1] != 10:
            if size == self.read_limit:
                self.overlong = True
                more = raw
                while more and more[-1] != 10:
                    more = self.readline(self.read_limit)
                    size += len(more)
            elif self.hold_partial:
                self.held = True
                raise StopIteration
        start = self.pos.offset
        self.pos.offset += size
        self.pos.line += 1
        self.record_bytes += size
        if start == 0 and raw[:3] == BOM:
            raw = raw[3:]
        if len(self.raw) < 64:
            self.raw.append(raw)
        return raw.decode("utf-8", "surrogateescape")


def read_header(stream: BinaryIO, pos: Position, max_line_bytes: int) -> list[str]:
    """Read the header record (consuming it from `stream`); [] for an empty file."""
    lines = _PhysicalLines(stream, pos, max_line_bytes, hold_partial=False)
    try:
        return next(csv.reader(lines))
    except (StopIteration, csv.Error):
        return []


def header_problem(header: list[str]) -> str | None:
    if not header:
        return "the file has no header line"
    if any(not name.strip() for name in header):
        return "the header has an empty column name"
    if len(set(header)) != len(header):
        return "the header repeats a column name"
    if any(_BAD_BYTES.search(name) or "\x00" in name for name in header):
        return "the header is not valid UTF-8 text"
    return None


def fill_csv(
    stream: BinaryIO, chunk: Chunk, pos: Position, header: list[str], *, hold_partial: bool
) -> bool:
    """Read CSV records into `chunk` until it is full or the stream ends; True at the end."""
    limits = chunk.limits
    lines = _PhysicalLines(stream, pos, limits.max_line_bytes, hold_partial)
    reader = csv.reader(lines)
    bad_header = header_problem(header)
    prefix = chunk.prefix
    block: list[bytes] = []
    buffered = 0
    block_offset, block_rows = pos.offset, chunk.landed
    first_offset = pos.offset
    records = 0
    at_end = False
    while records < limits.chunk_rows and pos.offset - first_offset < limits.chunk_bytes:
        if chunk.rejects_full:
            break
        start_line, start_offset = pos.line + 1, pos.offset
        lines.start_record()
        try:
            fields = next(reader)
            why = None
        except StopIteration:
            at_end = True
            break
        except csv.Error as exc:
            fields, why = [], Rejection(INVALID_CSV, str(exc))
        if lines.held:
            # The last record is still being written: leave it for the next run.
            pos.line, pos.offset = start_line - 1, start_offset
            at_end = True
            break
        records += 1
        raw = b"".join(lines.raw).rstrip(b"\r\n")
        if why is None:
            why = _record_problem(fields, header, bad_header, lines, limits.max_line_bytes)
        if why is not None:
            chunk.reject(start_line, start_offset, why, raw, lines.record_bytes)
            continue
        record = {name: value for name, value in zip(header, fields, strict=True) if value}
        data = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        data = data.replace(b"\\", b"\\\\")
        minute = utc_minute(record.get("event_time"))
        row = b"%b%d\t%d\t%b\t%b\n" % (prefix, start_line, start_offset, data, minute)
        block.append(row)
        chunk.landed += 1
        buffered += len(row)
        if buffered >= BLOCK_BYTES:
            chunk.write(b"".join(block))
            block.clear()
            buffered = 0
            chunk.on_block(pos.offset - block_offset, chunk.landed - block_rows)
            block_offset, block_rows = pos.offset, chunk.landed
    if block:
        chunk.write(b"".join(block))
    if pos.offset > block_offset:
        chunk.on_block(pos.offset - block_offset, chunk.landed - block_rows)
    chunk.lines += records
    return at_end


def _record_problem(
    fields: list[str],
    header: list[str],
    bad_header: str | None,
    lines: _PhysicalLines,
    max_line_bytes: int,
) -> Rejection | None:
    if lines.overlong or lines.record_bytes > max_line_bytes + 2:
        return Rejection(LINE_TOO_LONG, f"longer than {max_line_bytes} bytes")
    if not fields or (len(fields) == 1 and not fields[0].strip()):
        return Rejection(EMPTY_LINE, "empty or whitespace-only line")
    if bad_header:
        return Rejection(CSV_BAD_HEADER, bad_header)
    if len(fields) != len(header):
        return Rejection(CSV_FIELD_COUNT, f"{len(fields)} fields, the header has {len(header)}")
    for value in fields:
        if _BAD_BYTES.search(value):
            return Rejection(INVALID_UTF8, "invalid UTF-8 bytes in a field")
        if "\x00" in value:
            return Rejection(NUL_CHARACTER, "NUL character in a field")
    return None
