"""The report's charts as Vega-Lite specs, built with altair; the page draws them with the
vega-embed bundle that it carries inline.

Revenue is drawn per currency on a UTC time axis. Minutes more than LONG_GAP apart go into
separate panels (at most MAX_PANELS, cut at the longest gaps), each panel spans only its own
minutes, and every minute is a bar at least MIN_BAR_PX wide: a currency whose minutes lie days
apart still shows each of them, side by side with the gap named in the panels' titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise

import altair as alt
import vl_convert

from countonce.report.formatting import count, money, utc
from countonce.report.queries import MinuteRevenue, ProducerCompleteness, ProducerGap

MINUTE = timedelta(minutes=1)
LONG_GAP = timedelta(hours=1)
MAX_PANELS = 4
PLOT_WIDTH = 860  # every panel and the spacing between them, without the y axis
PLOT_HEIGHT = 220
PANEL_SPACING = 18
MIN_PANEL_WIDTH = 180  # room for its title
MIN_BAR_PX = 3.0
MAX_BAR_PX = 24.0
BAR_FILL = 0.8  # of a minute's width, when a minute is wide enough to show it
EDGE = 0.02  # the time shown beyond a panel's first and last minute, as a share of its span

POSITIVE = "#2f7d4f"
NEGATIVE = "#b3412e"
COUNT_COLORS = {"duplicates": "#d99a20", "conflicts": "#7b4bb7", "rejects": "#b3412e"}
SEQUENCE_COLORS = {"arrived": "#9fb8a8", "missing": NEGATIVE}
PRODUCER_ROW_PX = 30
# The Vega-Lite release that altair writes specs for, as vl-convert names its bundled ones.
VEGA_LITE_VERSION = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


@dataclass(frozen=True)
class Panel:
    """One panel of a revenue chart: which points it draws, the time it shows, its size."""

    rows: range
    start: datetime
    end: datetime
    width: int
    bar_width: float


@dataclass(frozen=True)
class CountGroup:
    """The counts of one load batch or one run, drawn as bars side by side."""

    tick: str  # the axis label, unique within its chart
    label: str  # what each bar's description and tooltip name
    counts: tuple[tuple[str, int], ...]


def split_at_gaps(
    minutes: Sequence[datetime], *, long_gap: timedelta = LONG_GAP, max_panels: int = MAX_PANELS
) -> list[range]:
    """Index ranges of the sorted `minutes`, one per panel: cut where consecutive minutes lie
    more than `long_gap` apart, at the longest such gaps, into at most `max_panels`."""
    gaps = sorted(
        (
            (minutes[i] - minutes[i - 1], i)
            for i in range(1, len(minutes))
            if minutes[i] - minutes[i - 1] > long_gap
        ),
        reverse=True,
    )
    cuts = sorted(i for _, i in gaps[: max_panels - 1])
    return [range(a, b) for a, b in pairwise([0, *cuts, len(minutes)])]


def panels(minutes: Sequence[datetime]) -> list[Panel]:
    """Lay out the panels of the sorted `minutes`: each shares PLOT_WIDTH by the time it spans,
    at least MIN_PANEL_WIDTH and no wider than its minutes need; its bars as wide as a minute
    within MIN_BAR_PX and MAX_BAR_PX."""
    parts = split_at_gaps(minutes)
    spans = [(minutes[p[-1]] - minutes[p[0]]) / MINUTE + 1 for p in parts]
    spare = PLOT_WIDTH - PANEL_SPACING * (len(parts) - 1) - MIN_PANEL_WIDTH * len(parts)
    laid = []
    for part, span in zip(parts, spans, strict=True):
        wanted = span * (1 + 2 * EDGE)  # minutes to show: the span and a margin
        width = int(
            min(
                MIN_PANEL_WIDTH + spare * span / sum(spans),
                max(MIN_PANEL_WIDTH, wanted * MAX_BAR_PX / BAR_FILL),
            )
        )
        shown = max(wanted, width * BAR_FILL / MAX_BAR_PX)
        margin = (shown - span) / 2 * MINUTE
        laid.append(
            Panel(
                rows=part,
                start=minutes[part[0]] - margin,
                end=minutes[part[-1]] + MINUTE + margin,
                width=width,
                bar_width=min(max(width / shown * BAR_FILL, MIN_BAR_PX), MAX_BAR_PX),
            )
        )
    return laid


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _span_text(first: datetime, last: datetime) -> str:
    if first == last:
        return utc(first)
    if first.astimezone(UTC).date() == last.astimezone(UTC).date():
        return f"{utc(first)[:-4]} – {last.astimezone(UTC):%H:%M} UTC"
    return f"{utc(first)} – {utc(last)}"


def minute_label(currency: str, point: MinuteRevenue) -> str:
    """What one minute's bar says in its tooltip and to a screen reader."""
    return (
        f"{utc(point.minute)}: net {money(point.net)} {currency} "
        f"(paid {money(point.gross)} in {count(point.paid_events)}, "
        f"refunded {money(point.refunded)} in {count(point.refund_events)})"
    )


def _minute_datum(currency: str, point: MinuteRevenue, panel: int) -> dict[str, object]:
    return {
        "panel": panel,
        # The middle of the minute, so that a bar a minute wide covers its minute.
        "at": _epoch_ms(point.minute + MINUTE / 2),
        # The exact decimal's text; the page parses it to a number only to place the bar.
        "net": str(point.net),
        "label": minute_label(currency, point),
    }


def revenue_chart(currency: str, points: Sequence[MinuteRevenue]) -> dict:
    """Net revenue per minute of one currency, oldest first, as a Vega-Lite spec."""
    minutes = [p.minute for p in points]
    laid = panels(minutes)
    values = [
        _minute_datum(currency, points[i], index)
        for index, panel in enumerate(laid)
        for i in panel.rows
    ]
    drawn = []
    for index, panel in enumerate(laid):
        first = index == 0
        part = [points[i] for i in panel.rows]
        one_day = panel.start.astimezone(UTC).date() == panel.end.astimezone(UTC).date()
        tick_format = "%H:%M" if one_day else "%m-%d %H:%M"
        x = alt.X(
            "at:T",
            title=None,
            scale=alt.Scale(type="utc", domain=[_epoch_ms(panel.start), _epoch_ms(panel.end)]),
            axis=alt.Axis(
                labelExpr=f"utcFormat(datum.value, '{tick_format}')",
                labelOverlap=True,
                tickCount=max(2, panel.width // 90),
                grid=False,
            ),
        )
        y = alt.Y(
            "net:Q",
            title=f"net {currency}" if first else None,
            axis=alt.Axis(format=",.2f", labels=first, ticks=first, domain=first),
        )
        drawn.append(
            alt.Chart(
                title=alt.Title(
                    _span_text(part[0].minute, part[-1].minute),
                    fontSize=11,
                    fontWeight="normal",
                    anchor="start",
                ),
            )
            .transform_filter(f"datum.panel == {index}")
            .mark_bar(width=panel.bar_width)
            .encode(
                x=x,
                y=y,
                color=alt.condition("datum.net < 0", alt.value(NEGATIVE), alt.value(POSITIVE)),
                description="label:N",
                tooltip="label:N",
            )
            .properties(width=panel.width, height=PLOT_HEIGHT)
        )
    chart = (
        alt.hconcat(
            *drawn,
            data=alt.Data(values=values, format=alt.DataFormat(parse={"net": "number"})),
            spacing=PANEL_SPACING,
        )
        .resolve_scale(y="shared")
        .properties(
            description=f"Net revenue per minute in {currency}, "
            f"{_span_text(minutes[0], minutes[-1])}"
        )
    )
    return chart.to_dict()


def count_chart(groups: Sequence[CountGroup], *, title: str) -> dict:
    """Counts per group, oldest first, as a Vega-Lite spec: one bar per non-zero count.

    Bars stand side by side, not stacked: conflicts are also duplicates, so a stack would
    count them twice.
    """
    kinds = list(COUNT_COLORS)
    values = [
        {"group": g.tick, "what": what, "count": n, "label": f"{g.label}: {n:,} {what}"}
        for g in groups
        for what, n in g.counts
        if n
    ]
    top = max((v["count"] for v in values), default=0)
    chart = (
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            x=alt.X(
                "group:N",
                title=None,
                scale=alt.Scale(domain=[g.tick for g in groups]),
                axis=alt.Axis(labelOverlap=True, labelAngle=0),
            ),
            xOffset=alt.XOffset("what:N", scale=alt.Scale(domain=kinds)),
            y=alt.Y(
                "count:Q",
                title=None,
                # Whole numbers only: Vega would put ticks at halves below a count of five.
                axis=alt.Axis(format=",d", tickCount=min(5, max(top, 1))),
            ),
            color=alt.Color(
                "what:N",
                scale=alt.Scale(domain=kinds, range=list(COUNT_COLORS.values())),
                legend=alt.Legend(title=None, orient="top"),
            ),
            description="label:N",
            tooltip="label:N",
        )
        .properties(width=PLOT_WIDTH, height=PLOT_HEIGHT, description=title)
    )
    return chart.to_dict()


def producer_chart(producers: Sequence[ProducerCompleteness], gaps: Sequence[ProducerGap]) -> dict:
    """Each producer's sequence from 0 to its highest number, as a Vega-Lite spec: what
    arrived, and each open gap over it with a tick, so that a gap of one number among
    millions still shows."""
    arrived = [
        {
            "producer": p.producer_id,
            "start": 0,
            "end": p.highest_sequence + 1,
            "what": "arrived",
            "label": f"{p.producer_id}: {count(p.sequences_seen)} of "
            f"{count(p.highest_sequence + 1)} numbers arrived",
        }
        for p in producers
    ]
    missing = [
        {
            "producer": g.producer_id,
            "start": g.first_missing,
            "end": g.last_missing + 1,
            "middle": (g.first_missing + g.last_missing + 1) / 2,
            "what": "missing",
            "label": f"{g.producer_id}: {g.first_missing:,}-{g.last_missing:,} missing "
            f"({count(g.missing)}), noticed {utc(g.noticed_at, seconds=True)}",
        }
        for g in gaps
    ]
    y = alt.Y("producer:N", title=None, scale=alt.Scale(domain=[p.producer_id for p in producers]))
    color = alt.Color(
        "what:N",
        scale=alt.Scale(domain=list(SEQUENCE_COLORS), range=list(SEQUENCE_COLORS.values())),
        legend=alt.Legend(title=None, orient="top"),
    )
    bar_height = PRODUCER_ROW_PX * 0.6

    def bars(values: list[dict]) -> alt.Chart:
        return (
            alt.Chart(alt.Data(values=values))
            .mark_bar(height=bar_height)
            .encode(
                x=alt.X("start:Q", title="sequence number", axis=alt.Axis(format=",d")),
                x2="end:Q",
                y=y,
                color=color,
                description="label:N",
                tooltip="label:N",
            )
        )

    ticks = (
        alt.Chart(alt.Data(values=missing))
        .mark_tick(thickness=2, size=bar_height + 6)
        .encode(x="middle:Q", y=y, color=color, description="label:N", tooltip="label:N")
    )
    chart = alt.layer(bars(arrived), bars(missing), ticks).properties(
        width=PLOT_WIDTH,
        height=PRODUCER_ROW_PX * max(len(producers), 1),
        description="Sequence numbers per producer: arrived, and the open gaps",
    )
    return chart.to_dict()


@cache
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script that sets window.vegaEmbed: the page
    carries it inline and needs no network (about 0.9 MB; building it takes a few seconds)."""
    return vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
