"""One batch run: take the pipeline lock, run the stages, keep the ledger row up to date.

A run is at least once: it works on the committed landing batches not yet recorded as
processed (the scope its dbt build takes), and records them as processed only once every
stage, the checks included, has succeeded. A run that dies or fails anywhere leaves its
scope to the next run, which processes it again; every model overwrites whole keys, so that
changes no number.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from countonce import db
from countonce.settings import Settings
from scheduler.ledger import RunRecord
from scheduler.lock import PipelineLock
from scheduler.stages import RUN_APPLICATION_NAME, STAGES, Stage, StageContext

log = logging.getLogger(__name__)

# How long a stage may take to wind down after a stop request before the run is
# recorded as interrupted anyway (the process then exits and the server aborts the rest).
STOP_GRACE_SECONDS = 3.0
_WORKER_PREFIX = "countonce-stage-"


class Interrupted(Exception):
    """A stop was requested (SIGTERM/SIGINT) while a stage was running."""


def stage_still_running() -> bool:
    """Whether an interrupted stage is still unwinding in its worker thread."""
    return any(t.name.startswith(_WORKER_PREFIX) and t.is_alive() for t in threading.enumerate())


def run_batch(
    settings: Settings,
    params: dict[str, str],
    *,
    trigger: str = "manual",
    stop: threading.Event | None = None,
    stages: Sequence[Stage] = STAGES,
) -> RunRecord:
    """Run one batch unless another holds the pipeline lock; never raises for a run's failure.

    The returned record says how it went (status, stage timings, figures, error) and whether
    it reached the ledger (`recorded`); when the database was unreachable it is `retryable`.
    """
    stop = stop or threading.Event()
    record = RunRecord(trigger=trigger, started_at=_now())
    try:
        lock = _lock(settings, params)
    except db.DatabaseUnavailable as exc:
        _fail(record, str(exc), retryable=True)
        _log_outcome(record)
        return record
    try:
        _run_locked(settings, params, lock, record, stop, stages)
    except psycopg.OperationalError as exc:
        _fail(record, f"lost the database connection: {str(exc).strip()}", retryable=True)
        record.recorded = False  # the ledger still shows an earlier state of this run
    except Exception as exc:
        log.exception("batch run broke", extra={"run_id": record.run_id})
        _fail(record, f"{type(exc).__name__}: {exc}", retryable=False)
        record.recorded = False
    finally:
        lock.close()
    _log_outcome(record)
    return record


def _lock(settings: Settings, params: dict[str, str]):
    if settings.on_spark:
        from scheduler.spark_runs import SparkRuns

        return SparkRuns(settings)
    return PipelineLock(params)


def _run_locked(
    settings: Settings,
    params: dict[str, str],
    lock: PipelineLock,
    record: RunRecord,
    stop: threading.Event,
    stages: Sequence[Stage],
) -> None:
    lock.migrate()
    if not lock.try_acquire():
        holder = lock.holder()
        record.status = "skipped"
        record.finished_at = _now()
        record.error = "another batch run holds the pipeline lock" + (
            f" ({holder})" if holder else ""
        )
        log.warning(
            "skipped: another batch run is in progress",
            extra={"run_id": record.run_id, "trigger": record.trigger, "holder": holder},
        )
        lock.save(record)
        return

    record.started_at = _now()
    abandoned = lock.close_abandoned(record.run_id)
    if abandoned:
        log.warning("closed runs left unfinished by a dead process", extra={"runs": abandoned})
    lock.save(record)

    ctx = StageContext(
        settings, {**params, "application_name": RUN_APPLICATION_NAME}, record.run_id
    )
    for stage in stages:
        if stop.is_set():
            record.status = "interrupted"
            record.error = f"stopped before stage {stage.name}"
            break
        started = time.monotonic()
        try:
            figures = _run_stage(stage, ctx, stop, lock.cancel)
        except Interrupted:
            _set_seconds(record, stage, started)
            record.status = "interrupted"
            record.error = f"stopped during stage {stage.name}"
            _log_stage(record, stage, "interrupted")
            break
        except Exception as exc:
            _set_seconds(record, stage, started)
            _fail(record, f"{stage.name}: {exc}", retryable=not lock.reachable())
            _log_stage(record, stage, "failed", error=str(exc))
            break
        _set_seconds(record, stage, started)
        for name, value in figures.items():
            setattr(record, name, value)
        _log_stage(record, stage, "succeeded", **figures)
        lock.save(record)  # a dashboard sees which stage a running batch is in
    else:
        if record.checks_failed:
            record.status = "checks_failed"
        else:
            if record.dbt_invocation_id is not None:
                # Everything the run wrote succeeded: its scope is done.
                record.load_batches_processed = lock.record_processed(
                    record.run_id, record.dbt_invocation_id
                )
            record.status = "succeeded"

    record.finished_at = _now()
    try:
        lock.save(record)
    except (psycopg.Error, OSError) as exc:
        record.recorded = False
        record.retryable = True
        log.error(
            "could not record the run outcome",
            extra={"run_id": record.run_id, "error": str(exc).strip()},
        )


def _run_stage(stage: Stage, ctx: StageContext, stop: threading.Event, cancel) -> dict:
    """Run the stage in a worker thread; on stop, cancel its queries and give it a moment."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["value"] = stage.run(ctx)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name=f"{_WORKER_PREFIX}{stage.name}", daemon=True)
    worker.start()
    while not done.wait(0.1):
        if stop.is_set():
            _wind_down(stage, done, cancel)
            raise Interrupted(stage.name)
    if stop.is_set():
        raise Interrupted(stage.name)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _wind_down(stage: Stage, done: threading.Event, cancel) -> None:
    log.warning("stop requested: cancelling stage", extra={"stage": stage.name})
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while not done.is_set() and time.monotonic() < deadline:
        try:
            cancel()
        except Exception as exc:  # stopping must not fail: the process exits regardless
            log.warning("could not cancel the stage's queries", extra={"error": str(exc)})
            return
        done.wait(0.2)


def _fail(record: RunRecord, error: str, *, retryable: bool) -> None:
    record.status = "failed"
    record.error = error
    record.retryable = retryable
    record.finished_at = record.finished_at or _now()


def _set_seconds(record: RunRecord, stage: Stage, started: float) -> None:
    seconds = Decimal(f"{time.monotonic() - started:.3f}")
    setattr(record, f"{stage.name}_seconds", seconds)


def _log_stage(record: RunRecord, stage: Stage, outcome: str, **fields: object) -> None:
    level = logging.INFO if outcome == "succeeded" else logging.WARNING
    log.log(
        level,
        f"stage {stage.name} {outcome}",
        extra={
            "run_id": record.run_id,
            "stage": stage.name,
            "outcome": outcome,
            "seconds": getattr(record, f"{stage.name}_seconds"),
            **fields,
        },
    )


def _log_outcome(record: RunRecord) -> None:
    level = {"succeeded": logging.INFO, "skipped": logging.INFO}.get(record.status, logging.ERROR)
    total = (record.finished_at - record.started_at).total_seconds() if record.finished_at else None
    log.log(
        level,
        f"run {record.status}",
        extra={
            "run_id": record.run_id,
            "trigger": record.trigger,
            "status": record.status,
            "seconds": None if total is None else round(total, 3),
            "rows_loaded": record.rows_loaded,
            "duplicates_absorbed": record.duplicates_absorbed,
            "conflicts": record.conflicts,
            "rejects": record.rejects,
            "checks_failed": record.checks_failed,
            "error": record.error.splitlines()[0] if record.error else None,
            "recorded": record.recorded,
        },
    )


def _now() -> datetime:
    return datetime.now(UTC)
