"""`countonce status`: recent runs from the ledger and the latest check status, as text or JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from countonce.relations import LATEST_CHECK_STATUS, exists
from scheduler import ledger

RUN_COLUMNS = (
    ("run_id", "run"),
    ("trigger", "trigger"),
    ("status", "status"),
    ("started_at", "started (UTC)"),
    ("seconds", "secs"),
    ("load_seconds", "load"),
    ("dbt_seconds", "dbt"),
    ("checks_seconds", "checks"),
    ("rows_loaded", "rows"),
    ("duplicates_absorbed", "dups"),
    ("conflicts", "conflicts"),
    ("rejects", "rejects"),
    ("checks_failed", "chk fail"),
    ("error", "error"),
)
ERROR_WIDTH = 60
CHECK_COLUMNS_ONLY_IN_JSON = ("offending_rows", "run_id")


def collect(conn: psycopg.Connection, limit: int) -> dict[str, list[dict[str, object]]]:
    runs = ledger.recent(conn, limit)
    for run in runs:
        finished, started = run["finished_at"], run["started_at"]
        run["seconds"] = (
            Decimal(f"{(finished - started).total_seconds():.3f}") if finished else None
        )
    checks: list[dict[str, object]] = []
    if exists(conn, LATEST_CHECK_STATUS):
        checks = (
            conn.cursor(row_factory=dict_row)
            .execute(sql.SQL("select * from {}").format(LATEST_CHECK_STATUS.ident))
            .fetchall()
        )
    return {"runs": runs, "checks": checks}


def jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def render(status: dict[str, list[dict[str, object]]]) -> str:
    parts = ["Recent runs (newest first)"]
    if status["runs"]:
        rows = [[_cell(key, run.get(key)) for key, _ in RUN_COLUMNS] for run in status["runs"]]
        parts.append(table([title for _, title in RUN_COLUMNS], rows))
    else:
        parts.append("  no runs recorded yet (ops.pipeline_runs is empty or missing)")
    parts.append("")
    parts.append("Latest check status")
    if status["checks"]:
        headers = [h for h in status["checks"][0] if h not in CHECK_COLUMNS_ONLY_IN_JSON]
        rows = [[_cell(h, check.get(h)) for h in headers] for check in status["checks"]]
        parts.append(table(headers, rows))
    else:
        parts.append("  no check results yet (dq.latest_check_status is empty or missing)")
    return "\n".join(parts)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line.rstrip(), rule, *(b.rstrip() for b in body)])


def _cell(key: str, value: object) -> str:
    if value is None:
        return "-"
    if key == "run_id":
        return str(value)[:8]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = " ".join(str(value).split())
    if len(text) > ERROR_WIDTH:
        text = text[: ERROR_WIDTH - 1] + "…"
    return text
