"""`countonce schedule`: an APScheduler BlockingScheduler running one batch at a time.

Within the process, APScheduler's max_instances=1 and coalescing keep runs from piling up;
across processes, the pipeline lock makes a second scheduler skip. When the database is
unreachable the next attempt comes sooner, with exponential backoff, and the outcomes that
could not be written are written once the database answers again.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import psycopg
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from countonce import db
from countonce.migrate import migrate
from countonce.settings import Settings
from scheduler import ledger
from scheduler.ledger import RunRecord
from scheduler.pipeline import run_batch

log = logging.getLogger(__name__)

JOB_ID = "batch"
DEFAULT_EVERY_SECONDS = 300
RETRY_FIRST_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0


class StopScheduler(BaseException):
    """Raised in the main thread by the signal handler to leave the scheduler's loop."""


def make_trigger(
    every: int | None, cron: str | None, every_setting: int | None
) -> tuple[BaseTrigger, str]:
    """--every wins, then the cron expression from settings, then the interval from settings."""
    if every is None and cron:
        try:
            return CronTrigger.from_crontab(cron, timezone=UTC), f"cron {cron!r}"
        except ValueError as exc:
            raise ValueError(
                f"COUNTONCE_SCHEDULE_CRON={cron!r} is not a cron expression: {exc}"
            ) from None
    seconds = every or every_setting or DEFAULT_EVERY_SECONDS
    if seconds < 1:
        raise ValueError(f"the interval must be at least 1 second, not {seconds}")
    return IntervalTrigger(seconds=seconds, timezone=UTC), f"every {seconds}s"


class BatchScheduler:
    def __init__(
        self,
        settings: Settings,
        params: dict[str, str],
        trigger: BaseTrigger,
        *,
        misfire_grace_seconds: int,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.params = params
        self.stop = stop
        self.idle = threading.Event()
        self.idle.set()
        self.backoff = RETRY_FIRST_SECONDS
        self.unrecorded: list[RunRecord] = []
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": misfire_grace_seconds,
            },
            timezone=UTC,
        )
        self.scheduler.add_job(
            self.tick, trigger, id=JOB_ID, name="batch run", next_run_time=datetime.now(UTC)
        )

    def run_forever(self) -> None:
        """Block running batches until stop is set by a StopScheduler raised in this thread."""
        try:
            self.scheduler.start()
        except StopScheduler:
            pass
        if self.scheduler.state != STATE_STOPPED:
            self.scheduler.shutdown(wait=False)

    def wait_idle(self, timeout: float) -> bool:
        return self.idle.wait(timeout)

    def tick(self) -> None:
        if self.stop.is_set():
            return
        self.idle.clear()
        try:
            self._write_unrecorded()
            record = run_batch(self.settings, self.params, trigger="schedule", stop=self.stop)
            if not record.recorded:
                self.unrecorded.append(record)
            if record.retryable and not self.stop.is_set():
                self._retry_soon()
            else:
                self.backoff = RETRY_FIRST_SECONDS
        except Exception:
            log.exception("scheduled batch broke; the scheduler carries on")
        finally:
            self.idle.set()

    def _retry_soon(self) -> None:
        retry_at = datetime.now(UTC) + timedelta(seconds=self.backoff)
        job = self.scheduler.get_job(JOB_ID)
        if job is not None and job.next_run_time is not None and retry_at < job.next_run_time:
            regular = job.next_run_time
            job.modify(next_run_time=retry_at)
            log.warning(
                "database unreachable: retrying soon",
                extra={"retry_in_seconds": self.backoff, "next_regular_run": regular},
            )
        self.backoff = min(self.backoff * 2, RETRY_MAX_SECONDS)

    def _write_unrecorded(self) -> None:
        if not self.unrecorded:
            return
        try:
            with db.connect(self.params, autocommit=True) as conn:
                migrate(conn)
                while self.unrecorded:
                    ledger.save(conn, self.unrecorded[0])
                    self.unrecorded.pop(0)
        except (db.DatabaseUnavailable, psycopg.Error) as exc:
            log.debug("ledger still unreachable", extra={"error": str(exc).strip()})
            return
        log.info("recorded the runs of the outage")
