"""The report's sections, from the queries' rows to what the template shows: text, tables and
chart specs. Every value is formatted here; the template only lays them out and escapes them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import ClassVar

import jinja2
import psycopg

from countonce.report import charts, queries
from countonce.report.formatting import cell, cell_class, count, money, utc

MAX_CHART_MINUTES = 1440
MAX_BATCHES = 200
MAX_TABLE_ROWS = 50
MAX_PRODUCERS = 30
MAX_GAPS = 500
LATEST_MINUTES = 20
CHECK_COLUMNS = (
    "severity",
    "suite",
    "expectation",
    "success",
    "observed_value",
    "offending_rows",
    "checked_at",
)
RUN_COLUMNS = (
    "started_at",
    "trigger",
    "status",
    "lines_read",
    "rows_loaded",
    "duplicates_absorbed",
    "conflicts",
    "rejects",
    "load_seconds",
    "dbt_seconds",
    "checks_seconds",
    "checks_failed",
    "checks_warned",
    "error",
)
FAILED_RUN_STATUSES = {"failed", "checks_failed", "interrupted"}


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str = ""


@dataclass(frozen=True)
class Row:
    cells: list[Cell]
    cls: str = ""


@dataclass(frozen=True)
class Table:
    headers: list[Cell]
    rows: list[Row]
    heading: str = ""
    folded: bool = False  # shown under a <details> whose summary is the heading
    kind: ClassVar[str] = "table"


@dataclass(frozen=True)
class Chart:
    chart: str  # what it draws: revenue, batches or runs
    caption: str
    spec: dict
    currency: str = ""
    kind: ClassVar[str] = "chart"


@dataclass(frozen=True)
class Figures:
    figures: list[tuple[str, str]]  # (name, formatted value)
    kind: ClassVar[str] = "figures"


@dataclass(frozen=True)
class Note:
    text: str
    missing: bool = False  # True: says what has not happened yet and what to run
    kind: ClassVar[str] = "note"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    text: str
    kind: ClassVar[str] = "verdict"


Block = Table | Chart | Figures | Note | Verdict


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    blocks: list[Block]


def typed_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: set[int],
    heading: str = "",
    folded: bool = False,
) -> Table:
    """A table of formatted text whose columns in `numeric` align right."""

    def cls(i: int) -> str:
        return "num" if i in numeric else ""

    return Table(
        headers=[Cell(h, cls(i)) for i, h in enumerate(headers)],
        rows=[Row([Cell(text, cls(i)) for i, text in enumerate(row)]) for row in rows],
        heading=heading,
        folded=folded,
    )


def status_class(names: Sequence[str], row: Sequence[object]) -> str:
    """Row colour: a failed critical check or run is 'fail', a failed warning check 'warn'."""
    values = dict(zip(names, row, strict=True))
    if isinstance(values.get("success"), bool):
        if values["success"]:
            return "pass"
        return "warn" if values.get("severity") == "warning" else "fail"
    status = values.get("status")
    if status == "succeeded":
        return "pass"
    return "fail" if status in FAILED_RUN_STATUSES else ""


def ledger_table(names: Sequence[str], rows: Sequence[tuple], *, heading: str = "") -> Table:
    """Database values as they come, each cell formatted by its type, each row by its status."""
    return Table(
        headers=[Cell(n) for n in names],
        rows=[
            Row([Cell(cell(v), cell_class(v)) for v in row], status_class(names, row))
            for row in rows
        ],
        heading=heading,
    )


def missing(anchor: str, title: str, what: str) -> Section:
    return Section(anchor, title, [Note(what, missing=True)])


# ---------------------------------------------------------------- sections


def revenue_section(conn: psycopg.Connection) -> Section:
    anchor, title = "revenue", "Revenue per minute"
    totals = queries.currency_totals(conn)
    if totals is None:
        return missing(anchor, title, "no revenue yet: run `countonce build`")
    if not totals:
        return missing(anchor, title, "no revenue yet: no paid or refunded events")
    blocks: list[Block] = [
        typed_table(
            [
                "currency",
                "minutes",
                "first minute",
                "last minute",
                "gross paid",
                "refunded",
                "net",
                "paid events",
                "refund events",
            ],
            (
                [
                    t.currency,
                    count(t.minutes),
                    utc(t.first_minute),
                    utc(t.last_minute),
                    money(t.gross),
                    money(t.refunded),
                    money(t.net),
                    count(t.paid_events),
                    count(t.refund_events),
                ]
                for t in totals
            ),
            numeric={1, 4, 5, 6, 7, 8},
        ),
        Note(
            f"Minutes more than {charts.LONG_GAP // charts.MINUTE} minutes apart are drawn in "
            "separate panels, each with its own time axis and the scale of its currency."
        ),
    ]
    series = queries.latest_minutes(conn, MAX_CHART_MINUTES)
    minutes_of = {t.currency: t.minutes for t in totals}
    for currency, points in series.items():
        shown, of = len(points), minutes_of[currency]
        note = "" if shown == of else f" (the latest {shown:,} of {of:,} minutes)"
        blocks.append(
            Chart(
                chart="revenue",
                caption=f"{currency}: net revenue per minute{note}",
                spec=charts.revenue_chart(currency, points),
                currency=currency,
            )
        )
    latest = sorted(
        (p for points in series.values() for p in points),
        key=lambda p: (p.minute, p.currency),
        reverse=True,
    )[:LATEST_MINUTES]
    blocks.append(
        typed_table(
            ["minute", "currency", "gross paid", "refunded", "net", "paid events", "refund events"],
            (
                [
                    utc(p.minute),
                    p.currency,
                    money(p.gross),
                    money(p.refunded),
                    money(p.net),
                    count(p.paid_events),
                    count(p.refund_events),
                ]
                for p in latest
            ),
            numeric={2, 3, 4, 5, 6},
            heading=f"The latest {len(latest):,} minutes",
        )
    )
    return Section(anchor, title, blocks)


def batch_groups(outcomes: Sequence[queries.BatchOutcome]) -> list[charts.CountGroup]:
    return [
        charts.CountGroup(
            tick=str(o.load_batch_id),
            label=f"batch {o.load_batch_id} ({o.source_file})",
            counts=(
                ("duplicates", o.duplicates or 0),
                ("conflicts", o.conflicts or 0),
                ("rejects", o.rejected_at_load + (o.rejected_by_contract or 0)),
            ),
        )
        for o in outcomes
    ]


def dedup_section(conn: psycopg.Connection) -> Section:
    anchor, title = "dedup", "Duplicates absorbed, conflicts and rejects"
    outcomes = queries.batch_outcomes(conn, MAX_BATCHES)
    if not outcomes:
        return missing(anchor, title, "nothing loaded yet: run `countonce ingest`")
    totals = queries.dedup_figures(conn)
    blocks: list[Block] = [
        Figures(
            [
                ("rows landed", count(totals.rows_landed)),
                ("events kept", count(totals.events_kept)),
                ("duplicates absorbed", count(totals.duplicates)),
                ("late duplicates caught", count(totals.late_duplicates)),
                ("conflicts", count(totals.conflicts)),
                ("lines rejected at load", count(totals.rejected_at_load)),
                ("rows rejected by the contract", count(totals.rejected_by_contract)),
                ("batches out of balance", count(totals.batches_out_of_balance)),
            ]
        )
    ]
    if totals.events_kept is None:
        blocks.append(
            Note(
                "the models have not run yet: run `countonce build` to see what was kept",
                missing=True,
            )
        )
    blocks.append(
        Chart(
            chart="batches",
            caption=f"Per load batch, the latest {len(outcomes):,}",
            spec=charts.count_chart(
                batch_groups(outcomes), title="Duplicates, conflicts and rejects per load batch"
            ),
        )
    )
    blocks.append(
        typed_table(
            [
                "load batch",
                "source file",
                "committed",
                "landed",
                "kept",
                "duplicates",
                "conflicts",
                "rejected at load",
                "rejected by contract",
                "balanced",
            ],
            (
                [
                    str(o.load_batch_id),
                    o.source_file,
                    utc(o.finished_at),
                    count(o.landed),
                    count(o.kept),
                    count(o.duplicates),
                    count(o.conflicts),
                    count(o.rejected_at_load),
                    count(o.rejected_by_contract),
                    cell(o.balanced),
                ]
                for o in reversed(outcomes)
            ),
            numeric={0, 3, 4, 5, 6, 7, 8},
            heading="Per load batch",
            folded=True,
        )
    )
    return Section(anchor, title, blocks)


def producers_section(conn: psycopg.Connection) -> Section:
    anchor, title = "producers", "Producers' sequences: events lost in transit"
    producers = queries.producer_completeness(conn, MAX_PRODUCERS)
    if producers is None:
        return missing(anchor, title, "not built yet: run `countonce build`")
    if not producers:
        return missing(
            anchor,
            title,
            "no producer stamps its events with producer_id and sequence: a lost event "
            "cannot be seen",
        )
    gaps = queries.producer_gaps(conn, [p.producer_id for p in producers], MAX_GAPS)
    blocks: list[Block] = [
        Chart(
            chart="producers",
            caption=f"Sequence numbers of the {len(producers):,} producers missing most",
            spec=charts.producer_chart(producers, gaps),
        ),
        typed_table(
            [
                "producer",
                "highest sequence",
                "arrived",
                "missing",
                "complete",
                "open gaps",
                "overdue",
                "oldest gap noticed",
                "open for",
                "out of order",
                "reused numbers",
            ],
            (
                [
                    p.producer_id,
                    f"{p.highest_sequence:,}",
                    count(p.sequences_seen),
                    count(p.missing),
                    f"{p.sequences_seen / (p.highest_sequence + 1):.2%}",
                    count(p.open_gaps),
                    count(p.overdue_gaps),
                    utc(p.oldest_gap_noticed_at) if p.oldest_gap_noticed_at else "",
                    _duration(p.oldest_gap_open_seconds),
                    count(p.out_of_order),
                    count(p.reused),
                ]
                for p in producers
            ),
            numeric={1, 2, 3, 4, 5, 6, 8, 9, 10},
        ),
    ]
    if gaps:
        blocks.append(
            typed_table(
                ["producer", "first missing", "last missing", "missing", "noticed", "overdue"],
                (
                    [
                        g.producer_id,
                        f"{g.first_missing:,}",
                        f"{g.last_missing:,}",
                        count(g.missing),
                        utc(g.noticed_at, seconds=True),
                        cell(g.overdue),
                    ]
                    for g in gaps
                ),
                numeric={1, 2, 3},
                heading=f"Open gaps, oldest first ({len(gaps):,})",
                folded=len(gaps) > LATEST_MINUTES,
            )
        )
    return Section(anchor, title, blocks)


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def checks_section(conn: psycopg.Connection) -> Section:
    anchor, title = "checks", "Latest check results"
    ledger = queries.latest_checks(conn, MAX_TABLE_ROWS)
    if ledger is None or not ledger.rows:
        return missing(anchor, title, "no checks recorded yet: run `countonce check`")
    names = ledger.columns
    shown = [n for n in CHECK_COLUMNS if n in names] or list(names)
    picked = [tuple(row[names.index(n)] for n in shown) for row in ledger.rows]
    blocks: list[Block] = []
    if {"success", "severity"} <= set(shown):
        success, severity = shown.index("success"), shown.index("severity")
        # Failures first, critical before warning, so what needs action is on top.
        picked.sort(key=lambda r: (r[success] is not False, r[severity] != "critical"))
        failed = [r for r in picked if r[success] is False]
        critical = sum(1 for r in failed if r[severity] == "critical")
        blocks.append(
            Verdict(
                passed=not critical,
                text=f"{len(picked):,} checks: {len(picked) - len(failed):,} passed, "
                f"{critical:,} critical failed, {len(failed) - critical:,} warnings",
            )
        )
    blocks.append(ledger_table(shown, picked))
    return Section(anchor, title, blocks)


def run_groups(names: Sequence[str], rows: Sequence[tuple]) -> list[charts.CountGroup]:
    """Duplicates, conflicts and rejects of each run, oldest first; empty without counts."""
    if not {"duplicates_absorbed", "conflicts", "rejects"} <= set(names):
        return []
    groups: list[charts.CountGroup] = []
    ticks: set[str] = set()
    for row in reversed(rows):
        run = dict(zip(names, row, strict=True))
        started = run.get("started_at")
        when = utc(started, seconds=True) if isinstance(started, datetime) else "?"
        # Two runs can start within a second (a skipped run is recorded at once).
        tick = base = when.removesuffix(" UTC")
        while tick in ticks:
            tick = f"{base} #{sum(t.startswith(base) for t in ticks) + 1}"
        ticks.add(tick)
        groups.append(
            charts.CountGroup(
                tick=tick,
                label=f"run {run.get('run_id', '?')} of {when} ({run.get('status', '?')})",
                counts=(
                    ("duplicates", run["duplicates_absorbed"] or 0),
                    ("conflicts", run["conflicts"] or 0),
                    ("rejects", run["rejects"] or 0),
                ),
            )
        )
    return groups


def runs_section(conn: psycopg.Connection) -> Section:
    anchor, title = "runs", "Run history"
    ledger = queries.latest_runs(conn, MAX_TABLE_ROWS)
    if ledger is None or not ledger.rows:
        return missing(anchor, title, "no runs recorded yet: run `countonce run`")
    names, rows = ledger.columns, ledger.rows
    blocks: list[Block] = []
    groups = run_groups(names, rows)
    if groups:
        blocks.append(
            Chart(
                chart="runs",
                caption=f"Per run, the latest {len(groups):,}",
                spec=charts.count_chart(groups, title="Duplicates, conflicts and rejects per run"),
            )
        )
    shown = [n for n in RUN_COLUMNS if n in names] or list(names)
    picked = [tuple(row[names.index(n)] for n in shown) for row in rows]
    blocks.append(
        ledger_table(shown, picked, heading=f"The latest {len(rows):,} runs, newest first")
    )
    return Section(anchor, title, blocks)


# ---------------------------------------------------------------- the page


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("countonce.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")


def render(conn: psycopg.Connection, *, database: str) -> str:
    """The whole page for the database of `conn`."""
    sections = [
        revenue_section(conn),
        dedup_section(conn),
        producers_section(conn),
        checks_section(conn),
        runs_section(conn),
    ]
    drawn = any(b.kind == "chart" for s in sections for b in s.blocks)
    return _template().render(
        sections=sections,
        database=database,
        as_of=queries.now(conn).strftime("%Y-%m-%d %H:%M:%S UTC"),
        bundle=charts.javascript_bundle() if drawn else None,
    )
