"""SIGTERM and SIGINT become a stop request that the running batch honours."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


class StopOnSignal:
    """Install in the main thread; `event` is set on the first SIGTERM/SIGINT.

    While `interrupt_with` is set, the first signal also raises it in the main thread (how a
    blocking scheduler loop is left); later signals only log, so cleanup is never cut short.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.interrupt_with: type[BaseException] | None = None

    def install(self) -> StopOnSignal:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        first = not self.event.is_set()
        self.event.set()
        name = signal.Signals(signum).name
        if not first:
            log.warning(f"{name} again: already stopping", extra={"signal": name})
            return
        log.warning(f"{name}: stopping the current run", extra={"signal": name})
        if self.interrupt_with is not None:
            raise self.interrupt_with()
