"""A batch run's lock and records on Spark, where no database holds them.

Single flight: an exclusive lock on a file (released by the kernel when the process dies).
The ledger, ops.pipeline_runs, is one parquet file per run, replaced whole at each save; the
scope recorded as processed is one file of ops.processed_batches per run. Both are written
with pyarrow (countonce/spark_tables.py), as the loader writes landing.
"""

from __future__ import annotations

import fcntl
import logging
import os
from datetime import UTC, datetime

from countonce import relations, spark_tables
from countonce.settings import Settings
from scheduler.ledger import RunRecord

log = logging.getLogger(__name__)

RUNS = "ops.pipeline_runs"


class SparkRuns:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.spark_dir.mkdir(parents=True, exist_ok=True)
        self._path = settings.spark_dir / "pipeline.lock"
        self._file = open(self._path, "a+")  # held for the whole run
        self.held = False

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._file.truncate(0)
        self._file.write(str(os.getpid()))
        self._file.flush()
        self.held = True
        from countonce.migrate import migrate_spark

        migrate_spark(self.settings)  # the metastore admits one process: only the holder
        return True

    def holder(self) -> str:
        pid = self._path.read_text().strip()
        return f"process {pid}" if pid else ""

    def migrate(self) -> None:
        """Nothing before the lock: see try_acquire."""

    def save(self, record: RunRecord) -> None:
        spark_tables.write(self.settings, RUNS, [record.as_row()], record.run_id)
        record.recorded = True

    def close_abandoned(self, current_run_id: str) -> int:
        rows = spark_tables.read(self.settings, RUNS).to_pylist()
        abandoned = [r for r in rows if r["status"] == "running" and r["run_id"] != current_run_id]
        for row in abandoned:
            closed = {
                **row,
                "status": "interrupted",
                "finished_at": row["finished_at"] or row["started_at"],
                "error": row["error"] or "the process ended before recording an outcome",
            }
            spark_tables.write(self.settings, RUNS, [closed], row["run_id"])
        return len(abandoned)

    def record_processed(self, run_id: str, invocation_id: str) -> int:
        """As scheduler/scope.py's record_processed: the batches of the scope this run's build
        took, if no other build has taken it since."""
        from countonce import spark

        session = spark.session(self.settings)
        session.catalog.refreshTable(str(relations.UNPROCESSED_BATCHES))
        rows = (
            session.table(str(relations.UNPROCESSED_BATCHES))
            .where(f"invocation_id = '{invocation_id}'")
            .select("load_batch_id")
            .collect()
        )
        if rows:
            spark_tables.write(
                self.settings,
                "ops.processed_batches",
                [
                    {"load_batch_id": r[0], "run_id": run_id, "processed_at": datetime.now(UTC)}
                    for r in rows
                ],
                run_id,
            )
        return len(rows)

    def cancel(self) -> int:
        """Cancel the session's running jobs: the dbt model or check waiting on them fails."""
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        if session is None:
            return 0
        session.sparkContext.cancelAllJobs()
        return 1

    def reachable(self) -> bool:
        return True

    def close(self) -> None:
        if self.held:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self.held = False
        self._file.close()
