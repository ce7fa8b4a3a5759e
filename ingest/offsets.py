"""raw.source_offsets: how far each source has been committed."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Offset:
    byte_offset: int
    line_number: int
    is_complete: bool
    source_size: int | None


def read_offsets(conn: psycopg.Connection, names: list[str]) -> dict[str, Offset]:
    rows = conn.execute(
        "select source_file, byte_offset, line_number, is_complete, source_size"
        " from raw.source_offsets where source_file = any(%s)",
        (names,),
    ).fetchall()
    return {name: Offset(*rest) for name, *rest in rows}


def record_offset(conn: psycopg.Connection, name: str, offset: Offset) -> None:
    """Upsert in a transaction of its own: only ever after the rows it covers committed."""
    with conn.transaction():
        conn.execute(
            "insert into raw.source_offsets"
            " (source_file, byte_offset, line_number, is_complete, source_size, updated_at)"
            " values (%s, %s, %s, %s, %s, now())"
            " on conflict (source_file) do update set byte_offset = excluded.byte_offset,"
            " line_number = excluded.line_number, is_complete = excluded.is_complete,"
            " source_size = excluded.source_size, updated_at = excluded.updated_at",
            (name, offset.byte_offset, offset.line_number, offset.is_complete, offset.source_size),
        )


def is_loaded(offset: Offset | None, disk_size: int | None, is_gzip: bool) -> bool:
    """Whether a file has nothing new since its recorded offset."""
    if offset is None or disk_size is None:
        return False
    if is_gzip:
        return offset.is_complete and offset.source_size == disk_size
    return offset.byte_offset >= disk_size
