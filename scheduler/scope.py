"""The run's scope after its dbt build: its figures for the ledger, and its recording as
processed once everything the run wrote succeeded.

Figures are counted over the batches of the scope (int_load_batches_unprocessed), not over
the rows this build happened to insert, so a batch processed again reports the same.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from countonce import relations

# ledger field -> the model whose rows of the scope's batches it counts, by which column
_COUNTED = {
    "duplicates_absorbed": (relations.DUPLICATES, "load_batch_id"),
    "conflicts": (relations.CONFLICTS, "conflicting_load_batch_id"),
    "rejects": (relations.REJECTED, "load_batch_id"),
}


def scope_metrics(conn: psycopg.Connection) -> dict[str, object]:
    """Duplicates absorbed, conflicts and rejects of the batches in the run's scope."""
    counts = sql.SQL(", ").join(
        sql.SQL(
            "(select count(*) from {model} as m where m.{column} = any(array("
            "select s.load_batch_id from {scope} as s)))"
        ).format(
            model=model.ident,
            column=sql.Identifier(column),
            scope=relations.UNPROCESSED_BATCHES.ident,
        )
        for model, column in _COUNTED.values()
    )
    row = conn.execute(sql.SQL("select {}").format(counts)).fetchone()
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
