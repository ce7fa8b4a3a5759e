"""`countonce report`: one self-contained HTML page on revenue, duplicates, checks and runs.

`queries` reads plain rows, `charts` builds the Vega-Lite specs (altair), `page` turns both
into the sections that `templates/report.html.j2` lays out. The page carries Vega's script
inline, so it needs no network; its tables hold every figure without the script.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def build_report(params: dict[str, str]) -> str:
    """The report's HTML for the database of `params`; reads only, never writes."""
    # Imported here: the command line loads this package with every command, and altair
    # takes most of a second to import.
    from countonce.report import page, queries

    database = f"{params.get('dbname', '?')} on {params.get('host', '?')}"
    with queries.snapshot(params) as conn:
        return page.render(conn, database=database)


def write_report(params: dict[str, str], out: Path) -> Path:
    """Write the report of the database of `params` to `out` (whole or not at all)."""
    html = build_report(params)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(out)
    log.info("report written", extra={"path": str(out), "bytes": len(html.encode())})
    return out
