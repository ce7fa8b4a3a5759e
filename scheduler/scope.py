"""The run's scope after its dbt build: its figures for the ledger, and its recording as
processed once everything the run wrote succeeded.

Figures are counted over the batches of the scope (int_load_batches_unprocessed), not over
the rows this build happened to insert, so a batch processed again reports the same.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from countonce import db, relations
from countonce.settings import Settings

# ledger field -> the model whose rows of the scope's batches it counts, by which column
_COUNTED = {
    "duplicates_absorbed": (relations.DUPLICATES, "load_batch_id"),
    "conflicts": (relations.CONFLICTS, "conflicting_load_batch_id"),
    "rejects": (relations.REJECTED, "load_batch_id"),
}


def scope_metrics(settings: Settings, params: dict[str, str]) -> dict[str, object]:
    """Duplicates absorbed, conflicts and rejects of the batches in the run's scope."""
    scope = f"select s.load_batch_id from {relations.UNPROCESSED_BATCHES} as s"
    counts = ", ".join(
        f"(select count(*) from {model} as m where"
        f" {relations.in_batches(f'm.{column}', scope, on_spark=settings.on_spark)})"
        for model, column in _COUNTED.values()
    )
    if settings.on_spark:
        from countonce import spark

        row = spark.session(settings).sql(f"select {counts}").collect()[0]
    else:
        with db.connect(params, autocommit=True) as conn:
            row = conn.execute(f"select {counts}").fetchone()
    return dict(zip(_COUNTED, row, strict=True))


def record_processed(conn: psycopg.Connection, run_id: str, invocation_id: str) -> int:
    """Record the scope of the run's dbt build as processed; returns how many batches.

    Only rows stamped with that build's invocation: if another build (an analyst's) has
    taken the scope since, this run records nothing and the next run processes those
    batches again, which changes no number.
    """
    cur = conn.execute(
        sql.SQL(
            "insert into {processed} (load_batch_id, run_id)"
            " select s.load_batch_id, %s from {scope} as s where s.invocation_id = %s"
            " on conflict (load_batch_id) do nothing"
        ).format(
            processed=relations.PROCESSED_BATCHES.ident,
            scope=relations.UNPROCESSED_BATCHES.ident,
        ),
        (run_id, invocation_id),
    )
    return cur.rowcount
