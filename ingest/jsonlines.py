"""JSON Lines into a chunk: the loader's hot loop.

Each line is checked cheaply (the C JSON scanner and a comma count) and, when it can land, its
original bytes go to COPY unchanged apart from COPY-text escaping. Lines the fast scan is
unsure about take the complete check in ingest.validate.
"""

from __future__ import annotations

from typing import BinaryIO

from ingest.chunk import BLOCK_BYTES, Chunk, Position
from ingest.event_minute import utc_minute
from ingest.validate import (
    BOM,
    INVALID_UTF8,
    LINE_TOO_LONG,
    Rejection,
    check_text,
    parse_checked,
    parse_storable_fast,
)


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
    readline = stream.readline
    read_limit = limits.max_line_bytes + 1
    write = chunk.write
    prefix = chunk.prefix
    reject = chunk.reject
    fast = parse_storable_fast
    line_no, offset = pos.line, pos.offset
    max_lines = limits.chunk_rows
    max_offset = offset + limits.chunk_bytes
    lines = landed = 0
    block: list[bytes] = []
    buffered = 0
    block_offset = offset
    block_rows = 0
    at_end = False
    while lines < max_lines and offset < max_offset:
        raw = readline(read_limit)
        if not raw:
            at_end = True
            break
        size = len(raw)
        if raw[-1] == 10:
            line = raw[:-1]
            if line[-1:] == b"\r":
                line = line[:-1]
        elif size == read_limit:
            rest, terminated = skip_rest_of_line(readline)
            line_no += 1
            lines += 1
            why = Rejection(LINE_TOO_LONG, f"longer than {limits.max_line_bytes} bytes")
            reject(line_no, offset, why, raw, size + rest - terminated)
            offset += size + rest
            if chunk.rejects_full:
                break
            continue
        elif hold_partial:
            at_end = True
            break
        else:
            line = raw[:-1] if raw[-1] == 13 else raw
        line_no += 1
        lines += 1
        start = offset
        offset += size
        if start == 0 and line[:3] == BOM:
            line = line[3:]
        try:
            text = line.decode()
        except UnicodeDecodeError as exc:
            reject(
                line_no,
                start,
                Rejection(INVALID_UTF8, f"{exc.reason} at byte {exc.start}"),
                line,
                len(line),
            )
            if chunk.rejects_full:
                break
            continue
        value = fast(line, text)
        if value is None:
            why = check_text(text, line)
            if why is not None:
                reject(line_no, start, why, line, len(line))
                if chunk.rejects_full:
                    break
                continue
            value = parse_checked(text)
        if b"\\" in line:
            line = line.replace(b"\\", b"\\\\")
        if b"\t" in line or b"\r" in line:
            line = line.replace(b"\t", b"\\t").replace(b"\r", b"\\r")
        minute = utc_minute(value.get("event_time"))
        row = b"%b%d\t%d\t%b\t%b\n" % (prefix, line_no, start, line, minute)
        block.append(row)
        landed += 1
        buffered += len(row)
        if buffered >= BLOCK_BYTES:
            write(b"".join(block))
            block.clear()
            buffered = 0
            chunk.on_block(offset - block_offset, landed - block_rows)
            block_offset, block_rows = offset, landed
    if block:
        write(b"".join(block))
    if offset > block_offset:
        chunk.on_block(offset - block_offset, landed - block_rows)
    chunk.lines += lines
    chunk.landed += landed
    pos.line, pos.offset = line_no, offset
    return at_end
