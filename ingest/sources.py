"""What to load: files, inbox directories and stdin, and how to open each one."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from ingest.simulator import DROPPED_FILE, TRUTH_FILE

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
# The simulator's ground truth sits next to its event files; it is not an event file.
NOT_EVENTS = frozenset({TRUTH_FILE, DROPPED_FILE})
_SKIP_SUFFIXES = (".part", ".tmp", ".partial")
_READ_BUFFER = 1024 * 1024
# A file is recognised by its device, inode and a hash of its first bytes (as log shippers
# such as Vector and Filebeat do): a rotated, replaced or rewritten file reads from its start.
FINGERPRINT_BYTES = 1024


class SourceError(RuntimeError):
    """A source cannot be read; the message names it and says why."""


@dataclass(frozen=True)
class Identity:
    """What a file on disk is, beyond its path."""

    device: int
    inode: int
    fingerprint: str
    fingerprint_bytes: int


def file_identity(path: Path) -> Identity:
    with open(path, "rb") as f:
        stat = os.fstat(f.fileno())
        head = f.read(FINGERPRINT_BYTES)
    return Identity(stat.st_dev, stat.st_ino, hashlib.sha256(head).hexdigest(), len(head))


def fingerprint_matches(path: Path, fingerprint: str, nbytes: int) -> bool:
    """Whether the first `nbytes` of `path` still hash to `fingerprint`."""
    with open(path, "rb") as f:
        head = f.read(nbytes)
    return len(head) == nbytes and hashlib.sha256(head).hexdigest() == fingerprint


@dataclass(frozen=True)
class Source:
    """One input stream. `name` is its key in the ledgers (absolute path, or stdin:<when>).

    in_inbox: listed from a directory, where writers may still be appending: an unterminated
    last line waits until the file settles. A file named on its own is read to its end.
    """

    name: str
    path: Path | None
    is_csv: bool
    is_gzip: bool
    in_inbox: bool = False

    @property
    def is_stdin(self) -> bool:
        return self.path is None

    @property
    def can_grow(self) -> bool:
        """A plain file in an inbox may still be appended to: its last line may be partial."""
        return self.in_inbox and self.path is not None and not self.is_gzip

    def disk_size(self) -> int | None:
        return None if self.path is None else self.path.stat().st_size

    def open(self, skip: int = 0) -> BinaryIO:
        """Open for reading, positioned `skip` uncompressed bytes in."""
        if self.path is None:
            return sys.stdin.buffer
        if not self.is_gzip:
            stream = open(self.path, "rb", buffering=_READ_BUFFER)  # noqa: SIM115
            stream.seek(skip)
            return stream
        stream = io.BufferedReader(gzip.GzipFile(self.path, "rb"), _READ_BUFFER)
        while skip:
            piece = stream.read(min(skip, _READ_BUFFER))
            if not piece:
                raise SourceError(f"{self.path}: shorter than its recorded offset")
            skip -= len(piece)
        return stream


def _kind(path: Path) -> tuple[bool, bool]:
    """(is_csv, is_gzip) from the file name; anything not .csv is read as JSON Lines."""
    name = path.name.lower()
    is_gzip = name.endswith(".gz")
    if is_gzip:
        name = name[:-3]
    return name.endswith(CSV_SUFFIXES), is_gzip


def is_event_file(path: Path) -> bool:
    """Whether an inbox holds `path` as an event file (hidden, partial and truth files skipped)."""
    name = path.name.lower()
    if name.startswith((".", "_")) or name.endswith(_SKIP_SUFFIXES) or name in NOT_EVENTS:
        return False
    if name.endswith(".gz"):
        name = name[:-3]
    return path.is_file() and name.endswith(JSON_SUFFIXES + CSV_SUFFIXES)


def file_source(path: Path, *, in_inbox: bool = False) -> Source:
    path = path.resolve()
    is_csv, is_gzip = _kind(path)
    return Source(str(path), path, is_csv, is_gzip, in_inbox)


def stdin_source(is_csv: bool = False) -> Source:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return Source(f"stdin:{stamp}", None, is_csv, False)


def resolve(inputs: list[str], *, stdin_csv: bool = False) -> list[Source]:
    """Expand the command-line inputs: `-` is stdin, a directory is an inbox (sorted by name)."""
    sources: list[Source] = []
    for item in inputs:
        if item == "-":
            sources.append(stdin_source(stdin_csv))
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if is_event_file(p))
            log.info("inbox listed", extra={"inbox": str(path), "files": len(found)})
            sources.extend(file_source(p, in_inbox=True) for p in found)
        elif path.is_file():
            sources.append(file_source(path))
        else:
            raise SourceError(f"{item}: no such file or directory")
    return sources
