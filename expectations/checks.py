"""Run the suites against the current run's scope (or everything), persist and report the
results."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
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
    minutes recon_revenue_1m compares), or with `full` all history, on the configured target.

    Results go to dq.check_runs and dq.check_results, Data Docs to settings.data_docs_dir.
    Never raises on a failing check: read `.success`. Data Docs: `data_docs=True` always
    renders this run (`countonce check` does); None, the default, renders it for a full
    run, when there are no docs yet, or when this run's outcome differs from the one the
    docs show; False never does (expectations/checkpoint.py).
    """
    from expectations.checkpoint import checkpoint_for

    started = time.perf_counter()
    run_id = run_id or f"check-{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    store = SparkStore(settings) if settings.on_spark else PostgresStore(params)
    with store:
        missing = [str(m) for m in MODELS_CHECKED if not store.exists(m)]
        if missing:
            raise ChecksUnavailable(
                "the dbt models the checks read are not built yet ("
                + ", ".join(missing)
                + "): run `countonce build` first"
            )
        scope = store.scope(full)
        store.record_start(run_id, full, scope)
        checkpoint = checkpoint_for(
            params,
            settings.data_docs_dir,
            full=full,
            max_reject_rate=settings.dq_max_reject_rate,
            gaps_critical=settings.gaps_critical,
            spark=store.spark,
        )
        raw = checkpoint.run(run_id, data_docs=True if full and data_docs is None else data_docs)
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
        store.persist(report)
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
    relations.PRODUCER_GAPS,
)


@dataclass(frozen=True)
class _Scope:
    minutes: int
    batches: int
    invocation_id: str | None


def _scope_query(full: bool, *, on_spark: bool) -> str:
    """How much a run covers: load batches, the minutes their landed rows touch, and the
    build that took the scope."""
    batches = relations.LOAD_BATCHES if full else relations.UNPROCESSED_BATCHES
    in_scope = relations.in_batches(
        "e.load_batch_id", f"select b.load_batch_id from {batches} as b", on_spark=on_spark
    )
    return (
        f"select count(*), (select count(distinct e.event_minute) from {relations.LANDING} as e"
        f" where {in_scope}),"
        f" (select max(invocation_id) from {relations.UNPROCESSED_BATCHES})"
        f" from {batches}"
    )


class PostgresStore:
    """Check runs on PostgreSQL: one at a time (an advisory lock), results in dq tables."""

    spark = None

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params

    def __enter__(self) -> PostgresStore:
        self.conn = db.connect(self.params, autocommit=True)
        migrate(self.conn)
        locks.lock(self.conn, locks.Lock.CHECKS)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            locks.unlock(self.conn, locks.Lock.CHECKS)
        finally:
            self.conn.close()

    def exists(self, relation: relations.Relation) -> bool:
        return relations.exists(self.conn, relation)

    def scope(self, full: bool) -> _Scope:
        row = self.conn.execute(_scope_query(full, on_spark=False)).fetchone()
        return _Scope(batches=row[0], minutes=row[1], invocation_id=row[2])

    def record_start(self, run_id: str, full: bool, scope: _Scope) -> None:
        self.conn.execute(
            sql.SQL(
                "insert into {} (run_id, is_full, scope_minutes, scope_batches, invocation_id)"
                " values (%s, %s, %s, %s, %s)"
            ).format(relations.CHECK_RUNS.ident),
            (run_id, full, scope.minutes, scope.batches, scope.invocation_id),
        )

    def persist(self, report: CheckReport) -> None:
        def jsonb(value: Any) -> Jsonb:
            return Jsonb(value, dumps=lambda v: json.dumps(v, default=to_json))

        with self.conn.transaction():
            with self.conn.cursor() as cur:
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
            self.conn.execute(
                sql.SQL(
                    "update {} set finished_at = clock_timestamp(), success = %s,"
                    " critical_failed = %s, warnings = %s, data_docs_index = %s"
                    " where run_id = %s"
                ).format(relations.CHECK_RUNS.ident),
                (
                    report.success,
                    report.critical_failed,
                    report.warnings,
                    report.data_docs_index,
                    report.run_id,
                ),
            )


class SparkStore:
    """Check runs on Spark, in this process's session (its metastore admits one process, so
    runs are one at a time already); results written as one parquet file per run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __enter__(self) -> SparkStore:
        from countonce import spark
        from countonce.migrate import migrate_spark

        migrate_spark(self.settings)
        self.spark = spark.session(self.settings)
        spark.refresh_landing(self.spark, self.settings)
        self.started_at = datetime.now(UTC)
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def exists(self, relation: relations.Relation) -> bool:
        return self.spark.catalog.tableExists(str(relation))

    def scope(self, full: bool) -> _Scope:
        row = self.spark.sql(_scope_query(full, on_spark=True)).collect()[0]
        return _Scope(batches=row[0], minutes=row[1], invocation_id=row[2])

    def record_start(self, run_id: str, full: bool, scope: _Scope) -> None:
        self.run = {
            "run_id": run_id,
            "is_full": full,
            "scope_minutes": scope.minutes,
            "scope_batches": scope.batches,
            "invocation_id": scope.invocation_id,
            "started_at": self.started_at,
        }

    def persist(self, report: CheckReport) -> None:
        from countonce import spark_tables

        def text(value: Any) -> str:
            return json.dumps(value, default=to_json)

        # Results first: a check run without its results file is one that did not finish.
        spark_tables.write(
            self.settings,
            "dq.check_results",
            [
                {
                    "run_id": report.run_id,
                    "suite": r.suite,
                    "expectation": r.expectation,
                    "severity": r.severity,
                    "success": r.success,
                    "observed_value": text(r.observed_value),
                    "offending_rows": text(r.offending_rows),
                }
                for r in report.results
            ],
            report.run_id,
        )
        spark_tables.write(
            self.settings,
            "dq.check_runs",
            [
                {
                    **self.run,
                    "finished_at": datetime.now(UTC),
                    "success": report.success,
                    "critical_failed": report.critical_failed,
                    "warnings": report.warnings,
                    "data_docs_index": report.data_docs_index,
                }
            ],
            report.run_id,
        )
