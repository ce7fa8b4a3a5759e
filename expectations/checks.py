"""Run the suites against the touched scope (or everything), persist and report the results."""

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

from psycopg.types.json import Jsonb

from countonce import db
from countonce.settings import Settings
from expectations import scope as scopes
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
    """Validate the minutes and batches touched since the last passing run (all with `full`).

    Results go to dq.check_results, Data Docs to settings.data_docs_dir. Never raises on a
    failing check: read `.success`.

    Data Docs: `data_docs=True` always renders this run (`countonce check` does); None, the
    default, renders it for a full run, when there are no docs yet, or when this run's
    outcome (per check: passed or not) differs from the one the docs show, so
    the scheduler's per-batch runs skip the build while nothing changes; False never does.
    See expectations/checkpoint.py.
    """
    from expectations.checkpoint import checkpoint_for

    started = time.perf_counter()
    run_id = run_id or f"check-{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    with db.connect(params, autocommit=True) as conn:
        scopes.ensure_schema(conn)
        scopes.lock(conn)
        try:
            scope = scopes.write_scope(conn, settings, run_id, full)
            checkpoint = checkpoint_for(params, settings.data_docs_dir)
            raw = checkpoint.run(
                run_id, data_docs=True if full and data_docs is None else data_docs
            )
            results = [
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
            ]
            report = CheckReport(
                run_id=run_id,
                full=full,
                scope_minutes=scope.minutes,
                scope_batches=scope.batches,
                invocation_id=scope.invocation_id,
                data_docs_index=str(checkpoint.data_docs_index),
                seconds=0.0,
                results=results,
            )
            report.seconds = round(time.perf_counter() - started, 3)
            _persist(conn, report)
        finally:
            scopes.unlock(conn)
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


def _persist(conn, report: CheckReport) -> None:
    def jsonb(value: Any) -> Jsonb:
        return Jsonb(value, dumps=lambda v: json.dumps(v, default=to_json))

    with conn.transaction():
        with conn.cursor() as cur:
            cur.executemany(
                "insert into dq.check_results (run_id, suite, expectation, severity, success,"
                " observed_value, offending_rows) values (%s, %s, %s, %s, %s, %s, %s)",
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
            "update dq.check_runs set finished_at = clock_timestamp(), success = %s,"
            " critical_failed = %s, warnings = %s, data_docs_index = %s where run_id = %s",
            (
                report.success,
                report.critical_failed,
                report.warnings,
                report.data_docs_index,
                report.run_id,
            ),
        )
        if report.success:
            scopes.mark_checked(conn, report.run_id)
