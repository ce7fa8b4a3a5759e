"""raw.source_offsets: how far each source has been committed, and which file that was."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from countonce.relations import SOURCE_OFFSETS
from ingest.sources import Identity, Source, fingerprint_matches


@dataclass(frozen=True)
class Offset:
    byte_offset: int
    line_number: int
    is_complete: bool
    source_size: int | None
    identity: Identity | None = None
    # An unterminated last line held back until its file settles: pending, not lost.
    pending_bytes: int = 0


_COLUMNS = (
    "source_file",
    "byte_offset",
    "line_number",
    "is_complete",
    "source_size",
    "device",
    "inode",
    "fingerprint",
    "fingerprint_bytes",
    "pending_bytes",
)


def read_offsets(conn: psycopg.Connection, names: list[str]) -> dict[str, Offset]:
    rows = conn.execute(
        sql.SQL("select {} from {} where source_file = any(%s)").format(
            sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)), SOURCE_OFFSETS.ident
        ),
        (names,),
    ).fetchall()
    found = {}
    for name, offset, line, complete, size, device, inode, print_, print_bytes, pending in rows:
        identity = None if inode is None else Identity(device, inode, print_, print_bytes)
        found[name] = Offset(offset, line, complete, size, identity, pending)
    return found


def record_offset(conn: psycopg.Connection, name: str, offset: Offset) -> None:
    """Upsert in a transaction of its own: only ever after the rows it covers committed."""
    identity = offset.identity
    values = (
        name,
        offset.byte_offset,
        offset.line_number,
        offset.is_complete,
        offset.source_size,
        identity and identity.device,
        identity and identity.inode,
        identity and identity.fingerprint,
        identity and identity.fingerprint_bytes,
        offset.pending_bytes,
    )
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in _COLUMNS[1:]
    )
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "insert into {} ({}, updated_at) values ({}, now())"
                " on conflict (source_file) do update set {}, updated_at = excluded.updated_at"
            ).format(
                SOURCE_OFFSETS.ident,
                sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
                sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)),
                updates,
            ),
            values,
        )


def is_loaded(offset: Offset | None, disk_size: int | None, is_gzip: bool) -> bool:
    """Whether a file has nothing new since its recorded offset."""
    if offset is None or disk_size is None:
        return False
    if is_gzip:
        return offset.is_complete and offset.source_size == disk_size
    return offset.byte_offset >= disk_size and offset.pending_bytes == 0


def why_read_again(offset: Offset, source: Source, disk_size: int) -> str | None:
    """Why the file now at the source's path must be read from its start, or None when it is
    the file the offset was recorded for. A re-read only lands duplicates; a skip loses events.
    """
    identity = offset.identity
    if identity is not None:
        stat = source.path.stat()
        if (stat.st_dev, stat.st_ino) != (identity.device, identity.inode):
            return "another file now has this path (rotated or replaced)"
        if not fingerprint_matches(source.path, identity.fingerprint, identity.fingerprint_bytes):
            return "its first bytes changed (rewritten)"
    shorter = (
        offset.source_size is not None and disk_size < offset.source_size
        if source.is_gzip
        else disk_size < offset.byte_offset
    )
    if shorter:
        return "it is shorter than what was read of it (truncated or rewritten)"
    return None
