"""Per-run dedup figures for the ledger, read from what the dbt build just computed.

The models stamp every row with the dbt invocation that produced it, so the figures of a
run are those of its invocation id.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

# ledger field -> relation whose rows carry an invocation_id
_COUNTED = {
    "duplicates_absorbed": "intermediate.int_order_event_duplicates",
    "conflicts": "intermediate.int_order_event_conflicts",
    "rejects": "intermediate.int_order_events_rejected",
}


RUN_METRICS = "reconciliation.recon_dedup_run_metrics"


def dedup_metrics(conn: psycopg.Connection, invocation_id: str | None) -> dict[str, object]:
    """Duplicates absorbed, conflicts and rejects of one dbt invocation; {} when unknown.

    Read from the per-run metrics model when the project has it, else counted directly.
    """
    if invocation_id is None:
        return {}
    if _exists(conn, RUN_METRICS):
        row = conn.execute(
            "select duplicates, conflicts, rejects"
            " from reconciliation.recon_dedup_run_metrics where invocation_id = %s",
            (invocation_id,),
        ).fetchone()
        if row is not None:
            return dict(zip(_COUNTED, row, strict=True))
    figures: dict[str, object] = {}
    for field, relation in _COUNTED.items():
        if not _exists(conn, relation):
            log.debug("no relation to count from", extra={"relation": relation})
            continue
        schema, name = relation.split(".")
        stmt = sql.SQL("select count(*) from {} where invocation_id = %s").format(
            sql.Identifier(schema, name)
        )
        figures[field] = conn.execute(stmt, (invocation_id,)).fetchone()[0]
    return figures


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]
