"""A one-line progress display on a terminal: bytes and rows per second."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:,.1f} {unit}" if unit != "B" else f"{nbytes:,.0f} B"
        nbytes /= 1024
    raise AssertionError("unreachable")


class Progress:
    """Redraws at most a few times a second; silent when disabled or not on a terminal."""

    def __init__(
        self, enabled: bool, total_bytes: int | None = None, stream: TextIO | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.total = total_bytes
        self.bytes = 0
        self.rows = 0
        self.label = ""
        self.started = time.monotonic()
        self._drawn = 0.0

    def file(self, label: str) -> None:
        self.label = label
        self._draw(force=True)

    def advance(self, nbytes: int, nrows: int) -> None:
        self.bytes += nbytes
        self.rows += nrows
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.2:
            return
        self._drawn = now
        elapsed = max(now - self.started, 1e-6)
        done = f"{_size(self.bytes)}"
        if self.total:
            done += f" / {_size(self.total)} ({100 * self.bytes / self.total:.0f}%)"
        line = (
            f"{self.label[-40:]}  {done}  {_size(self.bytes / elapsed)}/s  "
            f"{self.rows:,} rows  {self.rows / elapsed:,.0f} rows/s"
        )
        self.stream.write("\r" + line[:150].ljust(150))
        self.stream.flush()

    def clear(self) -> None:
        """Blank the line so a log message can be written; the next update redraws it."""
        if self.enabled:
            self.stream.write("\r" + " " * 150 + "\r")
            self.stream.flush()
            self._drawn = 0.0

    def close(self) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
