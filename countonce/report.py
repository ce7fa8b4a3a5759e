"""`countonce report`: one self-contained HTML page on revenue, duplicates, checks and runs.

Everything is drawn here, in Python: the page needs no network and no script to be read.
Each section reads only relations that exist, so the page works on a database at any stage.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path

import click
import psycopg
from psycopg import sql

from countonce import db
from countonce.settings import Settings

log = logging.getLogger(__name__)

FACT = "analytics.fact_revenue_1m"
LANDING = "raw.order_events"
LOAD_BATCHES = "raw.load_batches"
LOAD_REJECTS = "raw.load_rejects"
KEPT = "intermediate.int_order_events_deduplicated"
CONTRACT_REJECTS = "intermediate.int_order_events_rejected"
DUPLICATES = "intermediate.int_order_event_duplicates"
CONFLICTS = "intermediate.int_order_event_conflicts"
CONSERVATION = "reconciliation.recon_conservation_by_batch"
CHECKS = "dq.latest_check_status"
RUNS = "ops.pipeline_runs"
CHECK_COLUMNS = (
    "severity",
    "suite",
    "expectation",
    "success",
    "observed_value",
    "offending_rows",
    "checked_at",
)
FAILED_RUN_STATUSES = {"failed", "checks_failed", "interrupted"}
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

MAX_CHART_MINUTES = 1440
MAX_BAR_WIDTH = 24
MAX_BATCHES = 200
MAX_TABLE_ROWS = 50
LATEST_MINUTES = 20
MAX_CELL_CHARS = 200

CHART_WIDTH = 960
CHART_HEIGHT = 240
MARGIN_LEFT = 110
MARGIN_RIGHT = 16
MARGIN_TOP = 14
MARGIN_BOTTOM = 34
CENT = Decimal("0.01")

STYLE = """
:root { color-scheme: light; --ink: #1d2329; --muted: #5f6b76; --line: #d8dee4;
  --pos: #2f7d4f; --neg: #b3412e; --dup: #d99a20; --conf: #7b4bb7; --rej: #b3412e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--ink); background: #f6f8fa; }
header { padding: 20px 32px 8px; background: #fff; border-bottom: 1px solid var(--line); }
h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0 0 10px; color: var(--muted); }
nav a { margin-right: 18px; color: #0b5cad; text-decoration: none; }
main { padding: 8px 32px 40px; max-width: 1200px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 12px 20px 18px; margin-top: 18px; overflow-x: auto; }
h2 { font-size: 18px; margin: 4px 0 12px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 8px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
td.json { overflow-wrap: anywhere; min-width: 16em; font-size: 12px; }
th { color: var(--muted); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fbe9e6; }
tr.warn td { background: #fdf4dc; }
.empty { color: var(--muted); font-style: italic; }
.verdict { font-weight: 600; }
.verdict.fail { color: var(--neg); }
.verdict.pass { color: var(--pos); }
figure { margin: 14px 0; }
figcaption, .legend { font-size: 13px; color: var(--muted); margin-bottom: 4px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .bar.pos { fill: var(--pos); }
svg .bar.neg { fill: var(--neg); }
svg .duplicates, .key.duplicates { fill: var(--dup); background: var(--dup); }
svg .conflicts, .key.conflicts { fill: var(--conf); background: var(--conf); }
svg .rejects, .key.rejects { fill: var(--rej); background: var(--rej); }
svg .axis { stroke: var(--ink); stroke-width: 1; }
svg .grid { stroke: var(--line); stroke-width: 1; stroke-dasharray: 3 3; }
svg .tick { font-size: 11px; fill: var(--muted); }
.key { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.tile .value { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
.tile .label { color: var(--muted); font-size: 12px; }
details summary { cursor: pointer; color: #0b5cad; margin-top: 8px; }
"""


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    body: str


@dataclass(frozen=True)
class MinuteRevenue:
    currency: str
    minute: datetime
    gross: Decimal
    refunded: Decimal
    net: Decimal
    paid_events: int
    refund_events: int


@dataclass(frozen=True)
class BatchOutcome:
    load_batch_id: int
    source_file: str
    finished_at: datetime
    landed: int
    rejected_at_load: int
    kept: int | None
    duplicates: int | None
    conflicts: int | None
    rejected_by_contract: int | None
    balanced: bool | None


# ---------------------------------------------------------------- formatting


def money(value: Decimal | None) -> str:
    """Exact decimal text: two places when that loses nothing, every digit otherwise."""
    if value is None:
        return "—"
    if value == value.quantize(CENT):
        return f"{value.quantize(CENT):,}"
    return f"{value.normalize():,f}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def utc(moment: datetime, *, seconds: bool = False) -> str:
    return moment.astimezone(UTC).strftime(f"%Y-%m-%d %H:%M{':%S' if seconds else ''} UTC")


def cell(value: object) -> str:
    """One database value as escaped table text."""
    if value is None:
        text = "—"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, Decimal):
        text = money(value)
    elif isinstance(value, datetime):
        text = utc(value, seconds=True)
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str, sort_keys=True)
    else:
        text = str(value)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return escape(text)


def is_number(value: object) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def cell_class(value: object) -> str:
    if is_number(value):
        return " class=num"
    return " class=json" if isinstance(value, dict | list) else ""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: set[int]) -> str:
    """An HTML table; headers are escaped here, row cells must be escaped already."""
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def missing(what: str) -> str:
    return f'<p class="empty">{escape(what)}</p>'


# ---------------------------------------------------------------- database access


def exists(conn: psycopg.Connection, relation: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()
    return bool(row and row[0])


def columns(conn: psycopg.Connection, relation: str) -> list[str]:
    rows = conn.execute(
        "select attname from pg_attribute"
        " where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped"
        " order by attnum",
        (relation,),
    ).fetchall()
    return [r[0] for r in rows]


def ident(relation: str) -> sql.Identifier:
    schema, name = relation.split(".")
    return sql.Identifier(schema, name)


def counts_by_batch(
    conn: psycopg.Connection, relation: str, batch_ids: Sequence[int]
) -> dict[int, int] | None:
    """Rows of `relation` per load batch, or None when it has no load_batch_id to count by."""
    if not exists(conn, relation) or "load_batch_id" not in columns(conn, relation):
        return None
    query = sql.SQL(
        "select load_batch_id, count(*) from {} where load_batch_id = any(%s) group by 1"
    ).format(ident(relation))
    return dict(conn.execute(query, (list(batch_ids),)).fetchall())


def conflicts_by_batch(conn: psycopg.Connection, batch_ids: Sequence[int]) -> dict[int, int] | None:
    """Conflicts per load batch of the conflicting copy, or None before the model exists."""
    if not exists(conn, CONFLICTS) or "conflicting_landing_seq" not in columns(conn, CONFLICTS):
        return None
    rows = conn.execute(
        """
        select e.load_batch_id, count(*)
        from intermediate.int_order_event_conflicts as c
        inner join raw.order_events as e on e.landing_seq = c.conflicting_landing_seq
        where e.load_batch_id = any(%s)
        group by 1
        """,
        (list(batch_ids),),
    ).fetchall()
    return dict(rows)


def balance_by_batch(conn: psycopg.Connection, batch_ids: Sequence[int]) -> dict[int, bool]:
    """Whether each reconciled batch conserves its rows; batches not reconciled are absent."""
    if not exists(conn, CONSERVATION) or "is_balanced" not in columns(conn, CONSERVATION):
        return {}
    rows = conn.execute(
        "select load_batch_id, is_balanced from reconciliation.recon_conservation_by_batch"
        " where load_batch_id = any(%s)",
        (list(batch_ids),),
    ).fetchall()
    return dict(rows)


def count_where(conn: psycopg.Connection, relation: str, flag: str, *, negate: bool) -> int | None:
    """Rows of `relation` whose boolean column `flag` is true (false when negated)."""
    if not exists(conn, relation) or flag not in columns(conn, relation):
        return None
    test = sql.SQL("not {}" if negate else "{}").format(sql.Identifier(flag))
    query = sql.SQL("select count(*) from {} where {}").format(ident(relation), test)
    return conn.execute(query).fetchone()[0]


def total_rows(conn: psycopg.Connection, relation: str) -> int | None:
    if not exists(conn, relation):
        return None
    query = sql.SQL("select count(*) from {}").format(ident(relation))
    return conn.execute(query).fetchone()[0]


# ---------------------------------------------------------------- revenue


def revenue_by_currency(conn: psycopg.Connection) -> dict[str, list[MinuteRevenue]]:
    """The latest MAX_CHART_MINUTES minutes of the fact for each currency, oldest first."""
    rows = conn.execute(
        """
        select currency, minute, gross_paid_amount, refunded_amount, net_amount,
               paid_event_count, refund_event_count
        from (
            select *, row_number() over (partition by currency order by minute desc) as recency
            from analytics.fact_revenue_1m
        ) as ranked
        where recency <= %s
        order by currency, minute
        """,
        (MAX_CHART_MINUTES,),
    ).fetchall()
    series: dict[str, list[MinuteRevenue]] = {}
    for row in rows:
        series.setdefault(row[0], []).append(MinuteRevenue(*row))
    return series


def revenue_chart(currency: str, points: Sequence[MinuteRevenue]) -> str:
    """Net revenue per minute as an SVG bar chart: one <rect class="bar"> per minute."""
    plot_w = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    start = points[0].minute
    span = int((points[-1].minute - start) / timedelta(minutes=1)) + 1
    slot = plot_w / span
    top = max(Decimal(0), *(p.net for p in points))
    bottom = min(Decimal(0), *(p.net for p in points))
    scale = float(top - bottom) or 1.0

    def y(value: Decimal) -> float:
        return MARGIN_TOP + plot_h * float(top - value) / scale

    zero = y(Decimal(0))
    width = max(min(slot * 0.8, MAX_BAR_WIDTH), 0.5)
    bars = []
    for p in points:
        x = MARGIN_LEFT + slot * ((p.minute - start) / timedelta(minutes=1))
        y_net = y(p.net)
        label = (
            f"{utc(p.minute)}: net {money(p.net)} {currency} "
            f"(paid {money(p.gross)} in {p.paid_events}, "
            f"refunded {money(p.refunded)} in {p.refund_events})"
        )
        bars.append(
            f'<rect class="bar {"neg" if p.net < 0 else "pos"}" '
            f'data-minute="{p.minute.astimezone(UTC).isoformat()}" '
            f'data-net="{escape(str(p.net))}" '
            f'x="{x + (slot - width) / 2:.2f}" y="{min(y_net, zero):.2f}" '
            f'width="{width:.2f}" height="{abs(y_net - zero):.2f}">'
            f"<title>{escape(label)}</title></rect>"
        )
    ticks = []
    labelled: list[float] = []
    for value in (Decimal(0), top, bottom):
        if any(abs(y(value) - other) < 12 for other in labelled):
            continue
        labelled.append(y(value))
        ticks.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{CHART_WIDTH - MARGIN_RIGHT}" '
            f'y1="{y(value):.2f}" y2="{y(value):.2f}"/>'
            f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{y(value) + 4:.2f}" '
            f'text-anchor="end">{escape(money(value))}</text>'
        )
    end = points[-1].minute
    base = CHART_HEIGHT - MARGIN_BOTTOM + 18
    ticks.append(
        f'<text class="tick" x="{MARGIN_LEFT}" y="{base}">{escape(utc(start))}</text>'
        f'<text class="tick" x="{CHART_WIDTH - MARGIN_RIGHT}" y="{base}" '
        f'text-anchor="end">{escape(utc(end))}</text>'
    )
    title = f"Net revenue per minute in {currency}, {utc(start)} to {utc(end)}"
    return (
        f'<svg class="chart revenue" data-currency="{escape(currency)}" role="img" '
        f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(ticks)}"
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{CHART_WIDTH - MARGIN_RIGHT}" '
        f'y1="{zero:.2f}" y2="{zero:.2f}"/>{"".join(bars)}</svg>'
    )


def revenue_section(conn: psycopg.Connection) -> Section:
    title = "Revenue per minute"
    if not exists(conn, FACT):
        return Section("revenue", title, missing("no revenue yet: run `countonce build`"))
    totals = conn.execute(
        """
        select currency, count(*), min(minute), max(minute), sum(gross_paid_amount),
               sum(refunded_amount), sum(net_amount), sum(paid_event_count),
               sum(refund_event_count)
        from analytics.fact_revenue_1m
        group by currency
        order by currency
        """
    ).fetchall()
    if not totals:
        return Section("revenue", title, missing("no revenue yet: no paid or refunded events"))
    summary = table(
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
                escape(cur),
                count(n),
                escape(utc(first)),
                escape(utc(last)),
                money(gross),
                money(refunded),
                money(net),
                count(paid),
                count(refunds),
            ]
            for cur, n, first, last, gross, refunded, net, paid, refunds in totals
        ),
        numeric={1, 4, 5, 6, 7, 8},
    )
    series = revenue_by_currency(conn)
    charts = []
    for currency, points in series.items():
        shown = len(points)
        of = next(n for cur, n, *_ in totals if cur == currency)
        note = "" if shown == of else f" (the latest {shown:,} of {of:,} minutes)"
        charts.append(
            f"<figure><figcaption>{escape(currency)}: net revenue per minute{note}"
            f"</figcaption>{revenue_chart(currency, points)}</figure>"
        )
    latest = sorted(
        (p for points in series.values() for p in points),
        key=lambda p: (p.minute, p.currency),
        reverse=True,
    )[:LATEST_MINUTES]
    recent = table(
        ["minute", "currency", "gross paid", "refunded", "net", "paid events", "refund events"],
        (
            [
                escape(utc(p.minute)),
                escape(p.currency),
                money(p.gross),
                money(p.refunded),
                money(p.net),
                count(p.paid_events),
                count(p.refund_events),
            ]
            for p in latest
        ),
        numeric={2, 3, 4, 5, 6},
    )
    latest_caption = f"<h3>The latest {len(latest):,} minutes</h3>"
    return Section("revenue", title, summary + "".join(charts) + latest_caption + recent)


# ---------------------------------------------------------------- duplicates, conflicts, rejects


def batch_outcomes(conn: psycopg.Connection) -> list[BatchOutcome]:
    batches = conn.execute(
        """
        select load_batch_id, source_file, finished_at, rows_landed, rows_rejected
        from raw.load_batches
        order by load_batch_id desc
        limit %s
        """,
        (MAX_BATCHES,),
    ).fetchall()
    ids = [b[0] for b in batches]
    kept = counts_by_batch(conn, KEPT, ids)
    duplicates = counts_by_batch(conn, DUPLICATES, ids)
    conflicts = conflicts_by_batch(conn, ids)
    rejected = counts_by_batch(conn, CONTRACT_REJECTS, ids)
    balanced = balance_by_batch(conn, ids)

    def of(found: dict[int, int] | None, batch_id: int) -> int | None:
        return None if found is None else found.get(batch_id, 0)

    return [
        BatchOutcome(
            load_batch_id=batch_id,
            source_file=source_file,
            finished_at=finished_at,
            landed=landed,
            rejected_at_load=rejected_at_load,
            kept=of(kept, batch_id),
            duplicates=of(duplicates, batch_id),
            conflicts=of(conflicts, batch_id),
            rejected_by_contract=of(rejected, batch_id),
            balanced=balanced.get(batch_id),
        )
        for batch_id, source_file, finished_at, landed, rejected_at_load in reversed(batches)
    ]


@dataclass(frozen=True)
class CountGroup:
    """The counts of one load batch or one run, drawn as bars side by side."""

    key: str
    label: str
    counts: tuple[tuple[str, int], ...]


def count_chart(groups: Sequence[CountGroup], *, kind: str, title: str) -> str:
    """Counts per group, oldest first: one <rect> per non-zero count, classed by what it counts.

    Bars stand side by side, not stacked: conflicts are also duplicates, so a stack would
    count them twice.
    """
    plot_w = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    base = MARGIN_TOP + plot_h
    top = max((n for g in groups for _, n in g.counts), default=0) or 1
    slot = plot_w / len(groups)
    width = min(slot * 0.8, MAX_BAR_WIDTH * 3)
    shapes = []
    for index, group in enumerate(groups):
        left = MARGIN_LEFT + slot * index + (slot - width) / 2
        bar = width / len(group.counts)
        for position, (what, n) in enumerate(group.counts):
            if n == 0:
                continue
            h = plot_h * n / top
            shapes.append(
                f'<rect class="{what}" data-group="{escape(group.key)}" data-count="{n}" '
                f'x="{left + bar * position:.2f}" y="{base - h:.2f}" '
                f'width="{max(bar, 0.5):.2f}" height="{h:.2f}">'
                f"<title>{escape(f'{group.label}: {n:,} {what}')}</title></rect>"
            )
    axis = (
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{CHART_WIDTH - MARGIN_RIGHT}" '
        f'y1="{base}" y2="{base}"/>'
        f'<line class="grid" x1="{MARGIN_LEFT}" x2="{CHART_WIDTH - MARGIN_RIGHT}" '
        f'y1="{MARGIN_TOP}" y2="{MARGIN_TOP}"/>'
        f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + 4}" '
        f'text-anchor="end">{top:,}</text>'
        f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{base + 4}" text-anchor="end">0</text>'
        f'<text class="tick" x="{MARGIN_LEFT}" y="{base + 18}">'
        f"{escape(groups[0].label)}</text>"
        f'<text class="tick" x="{CHART_WIDTH - MARGIN_RIGHT}" y="{base + 18}" '
        f'text-anchor="end">{escape(groups[-1].label)}</text>'
    )
    return (
        f'<svg class="chart {kind}" role="img" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"{axis}{''.join(shapes)}</svg>"
    )


def legend(what: str) -> str:
    return (
        '<p class="legend"><span class="key duplicates"></span>duplicates'
        '<span class="key conflicts"></span>conflicts<span class="key rejects"></span>rejects'
        f" — {escape(what)}</p>"
    )


def batch_groups(outcomes: Sequence[BatchOutcome]) -> list[CountGroup]:
    return [
        CountGroup(
            key=str(o.load_batch_id),
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
    title = "Duplicates absorbed, conflicts and rejects"
    if not exists(conn, LOAD_BATCHES):
        return Section("dedup", title, missing("nothing loaded yet: run `countonce ingest`"))
    outcomes = batch_outcomes(conn)
    if not outcomes:
        return Section("dedup", title, missing("nothing loaded yet: run `countonce ingest`"))
    landed = total_rows(conn, LANDING)
    kept = total_rows(conn, KEPT)
    duplicates = total_rows(conn, DUPLICATES)
    conflicts = total_rows(conn, CONFLICTS)
    at_load = total_rows(conn, LOAD_REJECTS)
    by_contract = total_rows(conn, CONTRACT_REJECTS)
    figures = [
        ("rows landed", landed),
        ("events kept", kept),
        ("duplicates absorbed", duplicates),
        (
            "late duplicates caught",
            count_where(conn, DUPLICATES, "is_late_duplicate", negate=False),
        ),
        ("conflicts", conflicts),
        ("lines rejected at load", at_load),
        ("rows rejected by the contract", by_contract),
        ("batches out of balance", count_where(conn, CONSERVATION, "is_balanced", negate=True)),
    ]
    tiles = "".join(
        f'<div class="tile" data-figure="{escape(name)}"><span class="value">{count(n)}</span>'
        f'<span class="label">{escape(name)}</span></div>'
        for name, n in figures
    )
    note = ""
    if kept is None:
        note = missing("the models have not run yet: run `countonce build` to see what was kept")
    per_batch = table(
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
                escape(o.source_file),
                escape(utc(o.finished_at)),
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
    )
    chart = count_chart(
        batch_groups(outcomes),
        kind="batches",
        title="Duplicates, conflicts and rejects per load batch",
    )
    caption = legend(f"per load batch, the latest {len(outcomes):,}")
    body = (
        f'<div class="tiles">{tiles}</div>{note}<figure>{caption}{chart}</figure>'
        f"<details><summary>Per load batch</summary>{per_batch}</details>"
    )
    return Section("dedup", title, body)


# ---------------------------------------------------------------- checks and runs


def latest_rows(
    conn: psycopg.Connection, relation: str, order_by: Sequence[str]
) -> tuple[list[str], list[tuple]]:
    """Every column of `relation`, newest rows first by the first of `order_by` it has."""
    names = columns(conn, relation)
    order = next((c for c in order_by if c in names), None)
    query = sql.SQL("select * from {}").format(ident(relation))
    if order:
        query += sql.SQL(" order by {} desc nulls last").format(sql.Identifier(order))
    query += sql.SQL(" limit %s")
    return names, conn.execute(query, (MAX_TABLE_ROWS,)).fetchall()


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


def ledger_table(names: Sequence[str], rows: Sequence[tuple]) -> str:
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = "".join(
        f'<tr class="{status_class(names, row)}">'
        + "".join(f"<td{cell_class(v)}>{cell(v)}</td>" for v in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def checks_section(conn: psycopg.Connection) -> Section:
    title = "Latest check results"
    if not exists(conn, CHECKS):
        return Section("checks", title, missing("no checks recorded yet: run `countonce check`"))
    names, rows = latest_rows(conn, CHECKS, ["checked_at", "run_at", "finished_at"])
    if not rows:
        return Section("checks", title, missing("no checks recorded yet: run `countonce check`"))
    shown = [n for n in CHECK_COLUMNS if n in names] or list(names)
    picked = [tuple(row[names.index(n)] for n in shown) for row in rows]
    summary = ""
    if {"success", "severity"} <= set(shown):
        success, severity = shown.index("success"), shown.index("severity")
        # Failures first, critical before warning, so what needs action is on top.
        picked.sort(key=lambda r: (r[success] is not False, r[severity] != "critical"))
        failed = [r for r in picked if r[success] is False]
        critical = sum(1 for r in failed if r[severity] == "critical")
        summary = (
            f'<p class="verdict {"fail" if critical else "pass"}">{len(picked):,} checks: '
            f"{len(picked) - len(failed):,} passed, {critical:,} critical failed, "
            f"{len(failed) - critical:,} warnings</p>"
        )
    return Section("checks", title, summary + ledger_table(shown, picked))


def run_groups(names: Sequence[str], rows: Sequence[tuple]) -> list[CountGroup]:
    """Duplicates, conflicts and rejects of each run, oldest first; empty without counts."""
    if not {"duplicates_absorbed", "conflicts", "rejects"} <= set(names):
        return []
    groups = []
    for row in reversed(rows):
        run = dict(zip(names, row, strict=True))
        started = run.get("started_at")
        when = utc(started, seconds=True) if isinstance(started, datetime) else "?"
        groups.append(
            CountGroup(
                key=str(run.get("run_id", when)),
                label=f"run of {when} ({run.get('status', '?')})",
                counts=(
                    ("duplicates", run["duplicates_absorbed"] or 0),
                    ("conflicts", run["conflicts"] or 0),
                    ("rejects", run["rejects"] or 0),
                ),
            )
        )
    return groups


def runs_section(conn: psycopg.Connection) -> Section:
    title = "Run history"
    if not exists(conn, RUNS):
        return Section("runs", title, missing("no runs recorded yet: run `countonce run`"))
    names, rows = latest_rows(conn, RUNS, ["started_at", "run_id", "finished_at"])
    if not rows:
        return Section("runs", title, missing("no runs recorded yet: run `countonce run`"))
    body = ""
    groups = run_groups(names, rows)
    if groups:
        chart = count_chart(groups, kind="runs", title="Duplicates, conflicts and rejects per run")
        body += f"<figure>{legend(f'per run, the latest {len(groups):,}')}{chart}</figure>"
    shown = [n for n in RUN_COLUMNS if n in names] or list(names)
    picked = [tuple(row[names.index(n)] for n in shown) for row in rows]
    body += f"<h3>The latest {len(rows):,} runs, newest first</h3>" + ledger_table(shown, picked)
    return Section("runs", title, body)


# ---------------------------------------------------------------- the page


def render(sections: Sequence[Section], *, database: str, as_of: datetime) -> str:
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.anchor}"><h2>{escape(s.title)}</h2>{s.body}</section>' for s in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>countonce report</title><style>{STYLE}</style></head><body>"
        f"<header><h1>countonce report</h1><p>Database {escape(database)}, "
        f"as of {escape(as_of.strftime('%Y-%m-%d %H:%M:%S UTC'))}.</p>"
        f"<nav>{nav}</nav></header><main>{body}</main></body></html>\n"
    )


def build_report(params: dict[str, str]) -> str:
    """The report's HTML for the database of `params`; reads only, never writes."""
    with db.connect(params) as conn:
        # One read-only snapshot, so the figures of every section agree with each other.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute("set local time zone 'UTC'")
        sections = [
            revenue_section(conn),
            dedup_section(conn),
            checks_section(conn),
            runs_section(conn),
        ]
        as_of = conn.execute("select now()").fetchone()[0]
    database = f"{params.get('dbname', '?')} on {params.get('host', '?')}"
    return render(sections, database=database, as_of=as_of)


def write_report(settings: Settings, params: dict[str, str], out: Path | None = None) -> Path:
    target = out or settings.site_dir / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    page = build_report(params)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)
    log.info("report written", extra={"path": str(target), "bytes": len(page)})
    return target


@click.command("report")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the page (default: the site directory's report.html).",
)
@click.pass_context
def report_command(click_ctx: click.Context, out: Path | None) -> None:
    """Write a self-contained HTML page: revenue per minute, duplicates, checks, runs."""
    from countonce.cli import Context

    ctx = click_ctx.ensure_object(Context)
    try:
        path = write_report(ctx.settings, ctx.params, out)
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the report: {exc}; choose another place with --out"
        ) from None
    click.echo(str(path))
