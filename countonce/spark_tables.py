"""The tables the Python side writes on Spark, as parquet files written with pyarrow (no JVM):
their schemas (the one home of their columns: the DDL below is made from them), where their
files live, and how a file is made visible whole (written under a hidden name, renamed).

Spark lists a table's files when it reads it and ignores names starting with "_" or ".",
so a file is part of its table from the instant of its rename, never half written.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from countonce.settings import Settings

_TIME = pa.timestamp("us", tz="UTC")
_TEXT_MAP = pa.map_(pa.string(), pa.string())
_SECONDS = pa.decimal128(12, 3)

SCHEMAS: dict[str, pa.Schema] = {
    # The landing table: the landed record, and its top-level fields as PostgreSQL's ->> and
    # jsonb_typeof give them (Spark's JSON functions read numbers through a double).
    "raw.order_events": pa.schema(
        [
            ("landing_seq", pa.int64()),
            ("load_batch_id", pa.int64()),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
            ("source_offset", pa.int64()),
            ("loaded_at", _TIME),
            ("record", pa.string()),
            ("record_fields", _TEXT_MAP),
            ("record_types", _TEXT_MAP),
            ("event_minute", _TIME),
        ]
    ),
    "raw.load_batches": pa.schema(
        [
            ("load_batch_id", pa.int64()),
            ("source_file", pa.string()),
            ("first_line", pa.int64()),
            ("last_line", pa.int64()),
            ("first_offset", pa.int64()),
            ("end_offset", pa.int64()),
            ("lines_read", pa.int64()),
            ("rows_landed", pa.int64()),
            ("rows_rejected", pa.int64()),
            ("started_at", _TIME),
            ("finished_at", _TIME),
        ]
    ),
    "raw.load_rejects": pa.schema(
        [
            ("reject_id", pa.int64()),
            ("load_batch_id", pa.int64()),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
            ("source_offset", pa.int64()),
            ("reason", pa.string()),
            ("detail", pa.string()),
            ("raw_text", pa.string()),
            ("raw_bytes", pa.int64()),
            ("rejected_at", _TIME),
        ]
    ),
    "raw.source_offsets": pa.schema(
        [
            ("source_file", pa.string()),
            ("byte_offset", pa.int64()),
            ("line_number", pa.int64()),
            ("is_complete", pa.bool_()),
            ("source_size", pa.int64()),
            ("device", pa.int64()),
            ("inode", pa.int64()),
            ("fingerprint", pa.string()),
            ("fingerprint_bytes", pa.int32()),
            ("pending_bytes", pa.int64()),
            ("updated_at", _TIME),
        ]
    ),
    "ops.processed_batches": pa.schema(
        [("load_batch_id", pa.int64()), ("run_id", pa.string()), ("processed_at", _TIME)]
    ),
    # One file per batch run, replaced as the run goes (scheduler/ledger.py's RunRecord).
    "ops.pipeline_runs": pa.schema(
        [
            ("run_id", pa.string()),
            ("trigger", pa.string()),
            ("status", pa.string()),
            ("started_at", _TIME),
            ("finished_at", _TIME),
            ("load_seconds", _SECONDS),
            ("dbt_seconds", _SECONDS),
            ("checks_seconds", _SECONDS),
            ("lines_read", pa.int64()),
            ("rows_loaded", pa.int64()),
            ("rejects_at_load", pa.int64()),
            ("rejects", pa.int64()),
            ("duplicates_absorbed", pa.int64()),
            ("conflicts", pa.int64()),
            ("checks_failed", pa.int64()),
            ("checks_warned", pa.int64()),
            ("load_batches_processed", pa.int64()),
            ("dbt_invocation_id", pa.string()),
            ("error", pa.string()),
            ("host", pa.string()),
            ("pid", pa.int64()),
        ]
    ),
    # One file per check run: the run's figures, and its results (observed values and
    # offending rows as JSON texts, exact decimals and times written as text).
    "dq.check_runs": pa.schema(
        [
            ("run_id", pa.string()),
            ("is_full", pa.bool_()),
            ("scope_minutes", pa.int64()),
            ("scope_batches", pa.int64()),
            ("invocation_id", pa.string()),
            ("started_at", _TIME),
            ("finished_at", _TIME),
            ("success", pa.bool_()),
            ("critical_failed", pa.int64()),
            ("warnings", pa.int64()),
            ("data_docs_index", pa.string()),
        ]
    ),
    "dq.check_results": pa.schema(
        [
            ("run_id", pa.string()),
            ("suite", pa.string()),
            ("expectation", pa.string()),
            ("severity", pa.string()),
            ("success", pa.bool_()),
            ("observed_value", pa.string()),
            ("offending_rows", pa.string()),
        ]
    ),
}

_SPARK_TYPES = {
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.string(): "string",
    pa.bool_(): "boolean",
    _TIME: "timestamp",
    _TEXT_MAP: "map<string, string>",
    _SECONDS: "decimal(12, 3)",
}


def location(settings: Settings, table: str) -> Path:
    schema, name = table.split(".")
    return settings.spark_dir / "tables" / schema / name


def ddl(settings: Settings, table: str) -> str:
    columns = ", ".join(f"{field.name} {_SPARK_TYPES[field.type]}" for field in SCHEMAS[table])
    return (
        f"create table if not exists {table} ({columns}) using parquet"
        f" location '{location(settings, table)}'"
    )


def write(settings: Settings, table: str, rows: pa.Table | list[dict], name: str) -> Path:
    """One file of `table`, visible whole once renamed to `name`.parquet (replacing a file of
    that name: how a table keyed by file, such as the offsets, is updated)."""
    data = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, SCHEMAS[table])
    folder = location(settings, table)
    folder.mkdir(parents=True, exist_ok=True)
    hidden = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    pq.write_table(data.cast(SCHEMAS[table]), hidden)
    final = folder / f"{name}.parquet"
    os.replace(hidden, final)
    return final


def read(settings: Settings, table: str, names: list[str] | None = None) -> pa.Table:
    """The visible files of `table` (or only those named), read without Spark."""
    folder = location(settings, table)
    files = (
        sorted(folder.glob("*.parquet"))
        if names is None
        else [folder / f"{n}.parquet" for n in names if (folder / f"{n}.parquet").exists()]
    )
    if not files:
        return SCHEMAS[table].empty_table()
    return pa.concat_tables([pq.read_table(f, schema=SCHEMAS[table]) for f in files])


def file_key(text: str) -> str:
    """A file name for a key that may hold any character (a source's path)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
