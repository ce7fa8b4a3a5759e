"""One load batch in the making: rows streamed to COPY, rejects collected, counts kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.validate import Rejection, reject_text

BLOCK_BYTES = 128 * 1024  # rows are handed to COPY in blocks of about this size


@dataclass(frozen=True)
class Limits:
    max_line_bytes: int
    reject_text_bytes: int
    chunk_rows: int
    chunk_bytes: int = 64 * 1024 * 1024
    reject_buffer_bytes: int = 16 * 1024 * 1024


@dataclass
class Position:
    """How far a source has been read: bytes consumed and the number of the last line."""

    offset: int = 0
    line: int = 0


def copy_escape(data: bytes) -> bytes:
    """Escape bytes for one field of COPY's text format."""
    return (
        data.replace(b"\\", b"\\\\")
        .replace(b"\t", b"\\t")
        .replace(b"\n", b"\\n")
        .replace(b"\r", b"\\r")
    )


def row_prefix(batch_id: int, source_name: str) -> bytes:
    """The COPY columns shared by every row of a load batch: load_batch_id and source_file."""
    return b"%d\t%b\t" % (batch_id, copy_escape(source_name.encode()))


@dataclass
class Chunk:
    """Rows of one load batch; `write` sends COPY data, `on_block` runs after each block."""

    batch_id: int
    source_name: str
    write: Callable[[bytes], None]
    limits: Limits
    on_block: Callable[[int, int], None] = lambda nbytes, nrows: None
    lines: int = 0
    landed: int = 0
    rejects: list[tuple] = field(default_factory=list)
    reject_bytes: int = 0

    @property
    def prefix(self) -> bytes:
        return row_prefix(self.batch_id, self.source_name)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    @property
    def rejects_full(self) -> bool:
        return self.reject_bytes >= self.limits.reject_buffer_bytes

    def reject(self, line: int, offset: int, why: Rejection, raw: bytes, size: int) -> None:
        """Record a rejected line; `raw` may be only its start, `size` is its full length."""
        text = reject_text(raw, self.limits.reject_text_bytes)
        self.rejects.append(
            (self.batch_id, self.source_name, line, offset, why.reason, why.detail, text, size)
        )
        self.reject_bytes += len(text) + len(why.detail) + 64
