"""Run the suites against the current run's scope (or everything), persist and report the
results."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from countonce import db, locks, relations
from countonce.migrate import migrate
from countonce.settings import Settings
from expectations.suites import CRITICAL, WARNING

log = logging.getLogger(__name__)


@dataclass
class CheckResult:
    suite: str
    expectation: str
    severity: str
    success: bool
    description: str
    observed_value: Any
    offending_rows: list[dict[str, Any]]
    error: str | None = None


@dataclass
class CheckReport:
    run_id: str
    full: bool
    scope_minutes: int
    scope_batches: int
    invocation_id: str | None
    data_docs_index: str
    seconds: float
    results: list[CheckResult] = field(default_factory=list)

    @property
    def critical_failed(self) -> int:
        return sum(1 for r in self.results if r.severity == CRITICAL and not r.success)

    @property
    def warnings(self) -> int:
        return sum(1 for r in self.results if r.severity == WARNING and not r.success)

    @property
    def success(self) -> bool:
        return self.critical_failed == 0

    def failed(self, severity: str | None = None) -> list[str]:
        return [
            r.expectation
            for r in self.results
            if not r.success and (severity is None or r.severity == severity)
        ]

    def as_dict(self) -> dict[str, Any]:
        return json.loads(
            json.dumps(
                {
                    **asdict(self),
                    "success": self.success,
                    "critical_failed": self.critical_failed,
                    "warnings": self.warnings,
                },
                default=to_json,
            )
        )


def to_json(value: Any) -> Any:
    """JSON for values read from PostgreSQL: exact decimals and times as text."""
    if isinstance(value, Decimal | datetime | date | timedelta | uuid.UUID):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def run_checks(
    settings: Settings,
    params: dict[str, str],
    *,
    full: bool = False,
    run_id: str | None = None,
    data_docs: bool | None = None,
) -> CheckReport:
    """Validate the current run's scope (the batches of int_load_batches_unprocessed and the
    minutes recon_revenue_1m compares), or with `full` all history.

    Results go to dq.check_results, Data Docs to settings.data_docs_dir. Never raises on a
    failing check: read `.success`. Data Docs: `data_docs=True` always renders this run
    (`countonce check` does); None, the default, renders it for a full run, when there are
    no docs yet, or when this run's outcome differs from the one the docs show; False never
    does (expectations/checkpoint.py).
    """
    from expectations.checkpoint import checkpoint_for

    started = time.perf_counter()
    run_id = run_id or f"check-{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    with db.connect(params, autocommit=True) as conn:
        migrate(conn)
        locks.lock(conn, locks.Lock.CHECKS)
        try:
            missing = [str(m) for m in MODELS_CHECKED if not relations.exists(conn, m)]
            if missing:
                raise ChecksUnavailable(
                    "the dbt models the checks read are not built yet ("
                    + ", ".join(missing)
                    + "): run `countonce build` first"
                )
            scope = _scope(conn, full)
            _record_start(conn, run_id, full, scope)
            checkpoint = checkpoint_for(
                params,
                settings.data_docs_dir,
                full=full,
                max_reject_rate=settings.dq_max_reject_rate,
            )
            raw = checkpoint.run(
                run_id, data_docs=True if full and data_docs is None else data_docs
            )
            report = CheckReport(
                run_id=run_id,
                full=full,
                scope_minutes=scope.minutes,
                scope_batches=scope.batches,
                invocation_id=scope.invocation_id,
                data_docs_index=str(checkpoint.data_docs_index),
                seconds=0.0,
                results=[
                    CheckResult(
                        suite=r.suite.name,
                        expectation=r.check.name,
                        severity=r.suite.severity,
                        success=r.success,
                        description=r.check.description,
                        observed_value=r.observed_value,
                        offending_rows=r.offending_rows,
                        error=r.error,
                    )
                    for r in raw
                ],
            )
            report.seconds = round(time.perf_counter() - started, 3)
            _persist(conn, report)
        finally:
            locks.unlock(conn, locks.Lock.CHECKS)
    log.info(
        "checks finished",
        extra={
            "run_id": run_id,
            "success": report.success,
            "critical_failed": report.failed(CRITICAL),
            "warnings": report.failed(WARNING),
            "seconds": report.seconds,
        },
    )
    return report


class ChecksUnavailable(RuntimeError):
    """The relations the checks read do not exist yet; the message says what to do."""


# The dbt-built relations the suites read (expectations/suites.py).
MODELS_CHECKED = (
    relations.UNPROCESSED_BATCHES,
    relations.FACT,
    relations.REVENUE_RECONCILIATION,
    relations.LEDGER_BY_BATCH,
)


@dataclass(frozen=True)
class _Scope:
    minutes: int
    batches: int
    invocation_id: str | None


def _scope(conn, full: bool) -> _Scope:
    """How much a run covers: load batches, and the minutes their landed rows touch."""
    batches = relations.LOAD_BATCHES if full else relations.UNPROCESSED_BATCHES
    row = conn.execute(
        sql.SQL(
            "select count(*), (select count(distinct e.event_minute) from {landing} as e"
            " where e.load_batch_id = any(array(select b.load_batch_id from {batches} as b)))"
            " from {batches}"
        ).format(landing=relations.LANDING.ident, batches=batches.ident)
    ).fetchone()
    invocation = conn.execute(
        sql.SQL("select max(invocation_id) from {}").format(relations.UNPROCESSED_BATCHES.ident)
    ).fetchone()[0]
    return _Scope(minutes=row[1], batches=row[0], invocation_id=invocation)


def _record_start(conn, run_id: str, full: bool, scope: _Scope) -> None:
    conn.execute(
        sql.SQL(
            "insert into {} (run_id, is_full, scope_minutes, scope_batches, invocation_id)"
            " values (%s, %s, %s, %s, %s)"
        ).format(relations.CHECK_RUNS.ident),
        (run_id, full, scope.minutes, scope.batches, scope.invocation_id),
    )


def _persist(conn, report: CheckReport) -> None:
    def jsonb(value: Any) -> Jsonb:
        return Jsonb(value, dumps=lambda v: json.dumps(v, default=to_json))

    with conn.transaction():
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "insert into {} (run_id, suite, expectation, severity, success,"
                    " observed_value, offending_rows) values (%s, %s, %s, %s, %s, %s, %s)"
                ).format(relations.CHECK_RESULTS.ident),
                [
                    (
                        report.run_id,
                        r.suite,
                        r.expectation,
                        r.severity,
                        r.success,
                        jsonb(r.observed_value),
                        jsonb(r.offending_rows),
                    )
                    for r in report.results
                ],
            )
        conn.execute(
            sql.SQL(
                "update {} set finished_at = clock_timestamp(), success = %s,"
                " critical_failed = %s, warnings = %s, data_docs_index = %s where run_id = %s"
            ).format(relations.CHECK_RUNS.ident),
            (
                report.success,
                report.critical_failed,
                report.warnings,
                report.data_docs_index,
                report.run_id,
            ),
        )
