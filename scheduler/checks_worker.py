"""The checks of a single `countonce run`, in a process prepared while the batch loads and builds.

Importing Great Expectations and building its context costs seconds of CPU; in a single run
they would follow dbt's own import and parse on the same core. Started first, this process
does them on the other core, then waits for the run to ask for its checks. Messages are
pickled dicts over its stdin and stdout (the parent's own Settings travel with them):

    parent -> worker   {"settings": Settings, "params": {...}, "log_json": False, "level": 20}
    parent -> worker   {"params": {...}, "run_id": "..."}            (once per check)
    worker -> parent   {"success": True, "critical_failed": 0, "warnings": 0} or {"error": "..."}

The long-running scheduler imports GX once and needs no worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
from typing import IO, Any

from countonce import logs
from countonce.settings import Settings
from scheduler import collector
from scheduler.stages import Stage, StageContext, check_figures

log = logging.getLogger(__name__)


class ChecksWorker:
    """A prepared checks process; its `stage` replaces the in-process checks stage."""

    def __init__(self, settings: Settings, params: dict[str, str]) -> None:
        # Its own session: a Ctrl-C reaches the run, which then stops the worker itself.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler.checks_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        root = logging.getLogger()
        json_lines = any(isinstance(h.formatter, logs.JsonFormatter) for h in root.handlers)
        self._send(
            {"settings": settings, "params": params, "log_json": json_lines, "level": root.level}
        )
        self.stage = Stage("checks", self.run_checks, stop=self.kill)

    def run_checks(self, ctx: StageContext) -> dict[str, object]:
        self._send({"params": ctx.params, "run_id": ctx.run_id})
        try:
            reply = pickle.load(self._proc.stdout)
        except EOFError:
            raise RuntimeError(
                f"the checks process ended (exit status {self._proc.poll()})"
            ) from None
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return check_figures(reply["success"], reply["critical_failed"], reply["warnings"])

    def kill(self) -> None:
        """Stop the process; a check it is running is rolled back with its connections."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def close(self) -> None:
        self.kill()
        for pipe in (self._proc.stdin, self._proc.stdout):
            # A request sent after the process died is still buffered: nothing to deliver.
            with contextlib.suppress(BrokenPipeError):
                pipe.close()

    def __enter__(self) -> ChecksWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, message: dict[str, Any]) -> None:
        try:
            pickle.dump(message, self._proc.stdin)
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died; run_checks reports how


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    prepare = pickle.load(requests)
    logs.configure(json_lines=prepare["log_json"], level=prepare["level"])
    settings = prepare["settings"]
    _prepare(settings, prepare["params"])
    from expectations.checks import run_checks

    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        try:
            report = run_checks(settings, request["params"], run_id=request["run_id"])
            reply = {
                "success": report.success,
                "critical_failed": report.critical_failed,
                "warnings": report.warnings,
            }
        except Exception as exc:
            log.debug("checks raised", exc_info=True)
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        pickle.dump(reply, replies)
        replies.flush()


def _prepare(settings: Settings, params: dict[str, str]) -> None:
    from expectations.checkpoint import checkpoint_for

    try:
        checkpoint_for(params, settings.data_docs_dir)
    except Exception:  # e.g. the database is down now; the run's request retries and reports
        log.debug("could not prepare the checks", exc_info=True)


def main() -> None:
    collector.off_for_one_batch()  # it serves the checks of one `countonce run`
    # Replies get their own copy of stdout; anything a library prints goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
