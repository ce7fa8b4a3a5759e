"""JSON Lines into a chunk: the loader's hot loop.

Each line is checked cheaply (orjson and a comma count, ingest.validate) and, when it can land,
its original bytes go to COPY unchanged apart from COPY-text escaping. Lines the fast check is
unsure about take the complete check in ingest.validate.

Whole lines already in the stream's read buffer are taken as one block (peek, split); when the
block holds no byte that needs care (CR, tab, backslash), its lines land by the short loop in
fill_jsonl. Everything else (the first line of a file and its BOM, a line across the buffer's
end, too long or unterminated lines, lines needing escapes) goes through record_row, one at a
time, as do the elements of a JSON array posted to the webhook endpoint (ingest.webhooks).
"""

from __future__ import annotations

import re
from typing import BinaryIO

from ingest.chunk import BLOCK_BYTES, Chunk, Position, copy_escape
from ingest.event_minute import utc_minute
from ingest.validate import (
    BOM,
    LINE_TOO_LONG,
    Rejection,
    check_and_parse,
    parse_storable_fast,
)

# The bytes copy_escape changes that a line (split at newlines) can hold, as ints for find().
_NEEDS_ESCAPE = tuple(b"\\\t\r")
# The same, and newlines: a JSON text cut from elsewhere (an array's element) may span lines.
_RECORD_ESCAPES = re.compile(rb"[\\\t\r\n]")


def skip_rest_of_line(readline, piece: int = 1024 * 1024) -> tuple[int, bool]:
    """Consume an over-long line up to its newline: (bytes consumed, ended with newline)."""
    consumed = 0
    while True:
        raw = readline(piece)
        consumed += len(raw)
        if not raw or raw[-1] == 10:
            return consumed, bool(raw)


def fill_jsonl(stream: BinaryIO, chunk: Chunk, pos: Position, *, hold_partial: bool) -> bool:
    """Read lines into `chunk` until it is full or the stream ends; True at the end.

    hold_partial: leave an unterminated last line unread (its writer may be mid-line).
    """
    limits = chunk.limits
    max_line = limits.max_line_bytes
    read_limit = max_line + 1
    readline = stream.readline
    peek = getattr(stream, "peek", None)
    prefix = chunk.prefix
    fast = parse_storable_fast
    first_line = line_no = pos.line
    last_line = line_no + limits.chunk_rows
    offset = pos.offset
    max_offset = offset + limits.chunk_bytes
    rejected_before = chunk.rejected
    rows: list[bytes] = []
    written = offset  # input consumed up to here has its rows handed to COPY
    at_end = False
    while line_no < last_line and offset < max_offset and not chunk.rejects_full:
        block = _buffered_lines(peek, max_offset - offset) if peek and offset else None
        if block is not None:
            lines, plain = block
            block_start = offset
            for line in lines[: last_line - line_no]:
                line_no += 1
                start = offset
                size = len(line)
                offset += size + 1
                value = fast(line) if plain and size <= max_line else None
                if value is not None:
                    minute = utc_minute(value.get("event_time"))
                    rows.append(b"%b%d\t%d\t%b\t%b\n" % (prefix, line_no, start, line, minute))
                else:
                    row = record_row(chunk, prefix, line, line_no, start)
                    if row is None:
                        if chunk.rejects_full:
                            break
                        continue
                    rows.append(row)
                if offset - written >= BLOCK_BYTES:
                    _write(chunk, rows, offset - written)
                    written = offset
            stream.read(offset - block_start)
            continue
        raw = readline(read_limit)
        if not raw:
            at_end = True
            break
        size = len(raw)
        if raw[-1] == 10:
            line = raw[:-1]
        elif size == read_limit:
            rest, terminated = skip_rest_of_line(readline)
            line_no += 1
            why = Rejection(LINE_TOO_LONG, f"longer than {max_line} bytes")
            chunk.reject(line_no, offset, why, raw, size + rest - terminated)
            offset += size + rest
            continue
        elif hold_partial:
            at_end = True
            break
        else:
            line = raw
        line_no += 1
        row = record_row(chunk, prefix, line, line_no, offset)
        offset += size
        if row is not None:
            rows.append(row)
    if rows or offset > written:
        _write(chunk, rows, offset - written)
    lines_read = line_no - first_line
    chunk.lines += lines_read
    chunk.landed += lines_read - (chunk.rejected - rejected_before)
    pos.line, pos.offset = line_no, offset
    return at_end


def _buffered_lines(peek, limit: int) -> tuple[list[bytes], bool] | None:
    """The whole lines at the head of the read buffer, ending within `limit` bytes, without
    their newlines, and whether they are plain (no CR, tab or backslash anywhere); None when
    not one whole line is buffered."""
    data = peek()
    end = data.rfind(b"\n", 0, limit)
    if end < 0:
        return None
    plain = all(data.find(special, 0, end) < 0 for special in _NEEDS_ESCAPE)
    return data[:end].split(b"\n"), plain


def record_row(chunk: Chunk, prefix: bytes, line: bytes, line_no: int, start: int) -> bytes | None:
    """The COPY row of one record, checked in full; None: rejected.

    `line` is a line (newline removed, CR not) or one JSON text cut from a request body.
    """
    if len(line) > chunk.limits.max_line_bytes:
        why = Rejection(LINE_TOO_LONG, f"longer than {chunk.limits.max_line_bytes} bytes")
        chunk.reject(line_no, start, why, line[: chunk.limits.max_line_bytes + 1], len(line))
        return None
    if line[-1:] == b"\r":
        line = line[:-1]
    if start == 0 and line[:3] == BOM:
        line = line[3:]
    value = parse_storable_fast(line)
    if value is None:
        why, value = check_and_parse(line)
        if why is not None:
            chunk.reject(line_no, start, why, line, len(line))
            return None
    if _RECORD_ESCAPES.search(line) is not None:
        line = copy_escape(line)
    minute = utc_minute(value.get("event_time"))
    return b"%b%d\t%d\t%b\t%b\n" % (prefix, line_no, start, line, minute)


def _write(chunk: Chunk, rows: list[bytes], nbytes: int) -> None:
    """Hand `rows` (from `nbytes` of input) to COPY, then empty the list."""
    if rows:
        chunk.write(b"".join(rows))
    chunk.on_block(nbytes, len(rows))
    rows.clear()
