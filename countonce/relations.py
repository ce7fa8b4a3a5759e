"""The relations the Python side reads or writes, named once.

raw, dq and ops are the application's own schemas (countonce/migrations); the others are
built by the dbt project (dbt_project/dbt_project.yml gives each folder its schema).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Identifier:
        """For psycopg.sql composition: sql.SQL("select * from {}").format(rel.ident)."""
        return sql.Identifier(self.schema, self.name)


# The application's own (migrations)
LANDING = Relation("raw", "order_events")
LOAD_BATCHES = Relation("raw", "load_batches")
LOAD_REJECTS = Relation("raw", "load_rejects")
SOURCE_OFFSETS = Relation("raw", "source_offsets")
LOAD_BATCH_SEQUENCE = Relation("raw", "load_batch_id_seq")
CHECK_RUNS = Relation("dq", "check_runs")
CHECK_RESULTS = Relation("dq", "check_results")
LATEST_CHECK_STATUS = Relation("dq", "latest_check_status")
PIPELINE_RUNS = Relation("ops", "pipeline_runs")
PROCESSED_BATCHES = Relation("ops", "processed_batches")
SCHEMA_MIGRATIONS = Relation("ops", "schema_migrations")

# Built by dbt
UNPROCESSED_BATCHES = Relation("intermediate", "int_load_batches_unprocessed")
DEDUPLICATED = Relation("intermediate", "int_order_events_deduplicated")
DUPLICATES = Relation("intermediate", "int_order_event_duplicates")
CONFLICTS = Relation("intermediate", "int_order_event_conflicts")
REJECTED = Relation("intermediate", "int_order_events_rejected")
PRODUCER_SEQUENCES = Relation("intermediate", "int_producer_sequences")
PRODUCER_SEQUENCE_REUSES = Relation("intermediate", "int_producer_sequence_reuses")
PRODUCER_RANGES = Relation("intermediate", "int_producer_gaps")
PRODUCER_GAPS = Relation("analytics", "producer_gaps")
PRODUCER_COMPLETENESS = Relation("analytics", "producer_completeness")
FACT = Relation("analytics", "fact_revenue_1m")
REVENUE_RECONCILIATION = Relation("reconciliation", "recon_revenue_1m")
REVENUE_RECONCILIATION_FULL = Relation("reconciliation", "recon_revenue_1m_full")
LEDGER_BY_BATCH = Relation("reconciliation", "recon_conservation_by_batch")
LEDGER_BY_FILE = Relation("reconciliation", "recon_conservation_by_file")
LANDING_FRESHNESS = Relation("reconciliation", "recon_landing_freshness")

APPLICATION_SCHEMAS = ("raw", "dq", "ops")
DBT_SCHEMAS = ("staging", "intermediate", "analytics", "reconciliation", "bench")


def in_batches(column: str, batches: str, *, on_spark: bool) -> str:
    """SQL: `column` is one of the load batches the query `batches` selects. PostgreSQL
    plans `= any(array(...))` as an index lookup per batch, where its `in (select ...)`
    would hash the whole table; Spark has no arrays of a subquery."""
    if on_spark:
        return f"{column} in ({batches})"
    return f"{column} = any(array({batches}))"


def exists(conn, relation: Relation) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (str(relation),)).fetchone()[0]
