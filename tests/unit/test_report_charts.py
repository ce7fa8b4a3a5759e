"""The report's charts without a database: panels, bar sizes, and what Vega lays out.

vl-convert runs the same Vega that the page carries, so its scenegraph is what a browser draws.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import vl_convert

from countonce.report import charts
from countonce.report.formatting import money
from countonce.report.queries import MinuteRevenue

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def minute(offset: timedelta, net: str, currency: str = "USD") -> MinuteRevenue:
    amount = Decimal(net)
    gross, refunded = (amount, Decimal("0.00")) if amount >= 0 else (Decimal("0.00"), -amount)
    return MinuteRevenue(
        currency=currency,
        gross=gross,
        refunded=refunded,
        net=amount,
        paid_events=int(amount >= 0),
        refund_events=int(amount < 0),
        minute=START + offset,
    )


def drawn_bars(spec: dict) -> list[dict]:
    """Every bar that Vega lays out for `spec`, with its panel's origin, in panel order."""
    scenegraph = vl_convert.vegalite_to_scenegraph(spec, vl_version=charts.VEGA_LITE_VERSION)
    bars: list[dict] = []

    def walk(node: object, origin: float) -> None:
        if isinstance(node, dict):
            if node.get("marktype") == "rect" and node.get("role") == "mark":
                bars.extend({**item, "panel_x": origin} for item in node["items"])
                return
            for value in node.values():
                walk(value, origin + node.get("x", 0) if "items" in node else origin)
        elif isinstance(node, list):
            for value in node:
                walk(value, origin)

    walk(scenegraph["scenegraph"], 0.0)
    return bars


def test_minutes_within_an_hour_of_each_other_share_one_panel():
    minutes = [START + timedelta(minutes=m) for m in (0, 1, 2, 30, 89)]

    assert charts.split_at_gaps(minutes) == [range(0, 5)]


def test_a_gap_longer_than_an_hour_starts_a_new_panel():
    minutes = [START, START + timedelta(minutes=60), START + timedelta(minutes=121)]

    assert charts.split_at_gaps(minutes) == [range(0, 2), range(2, 3)]


def test_more_gaps_than_panels_cut_at_the_longest():
    days = [0, 1, 1.5, 4, 4.1, 9]  # gaps of 1, 0.5, 2.5, 0.1 and 4.9 days
    minutes = [START + timedelta(days=d) for d in days]

    parts = charts.split_at_gaps(minutes, max_panels=3)

    assert parts == [range(0, 3), range(3, 5), range(5, 6)]


def test_panels_fit_the_plot_and_bars_stay_between_their_bounds():
    dense = [START + timedelta(minutes=m) for m in range(1440)]
    sparse = [
        START,
        START + timedelta(days=2),
        START + timedelta(days=4),
        START + timedelta(days=6),
    ]

    for minutes in (dense, sparse, [START]):
        laid = charts.panels(minutes)
        total = sum(p.width for p in laid) + charts.PANEL_SPACING * (len(laid) - 1)
        assert total <= charts.PLOT_WIDTH
        for panel in laid:
            assert charts.MIN_BAR_PX <= panel.bar_width <= charts.MAX_BAR_PX
            assert panel.width >= charts.MIN_PANEL_WIDTH
            assert panel.start < minutes[panel.rows[0]]
            assert panel.end > minutes[panel.rows[-1]] + charts.MINUTE


def test_minutes_six_days_apart_are_each_drawn_as_a_visible_bar():
    """Two minutes on day one, two six days later: one time axis would give each minute a
    sliver of a pixel; the chart draws two panels and every bar a few pixels wide at least."""
    points = [
        minute(timedelta(minutes=1), "65.00"),
        minute(timedelta(minutes=2), "30.50"),
        minute(timedelta(days=6, minutes=1), "12.25"),
        minute(timedelta(days=6, minutes=4), "-5.00"),
    ]
    one_axis_px = charts.PLOT_WIDTH / ((points[-1].minute - points[0].minute) / charts.MINUTE)
    assert one_axis_px < 0.1

    spec = charts.revenue_chart("USD", points)
    bars = drawn_bars(spec)

    assert len(spec["hconcat"]) == 2
    assert [b["description"].split(" UTC:")[0] for b in bars] == [
        "2026-11-20 10:01",
        "2026-11-20 10:02",
        "2026-11-26 10:01",
        "2026-11-26 10:04",
    ]
    for bar in bars:
        assert bar["width"] >= charts.MIN_BAR_PX
        assert bar["height"] > 0
    first, second, later, refund = bars
    assert first["panel_x"] == second["panel_x"] < later["panel_x"] == refund["panel_x"]
    # Both panels share the currency's scale, and neighbouring minutes do not overlap.
    assert first["height"] == pytest.approx(second["height"] * 65 / 30.5, rel=0.01)
    assert first["height"] == pytest.approx(later["height"] * 65 / 12.25, rel=0.01)
    assert first["x"] + first["width"] <= second["x"]
    assert refund["y"] >= later["y"] + later["height"] - 0.5  # below the zero line


def test_a_day_of_minutes_is_one_panel_of_narrow_bars_inside_the_plot():
    points = [minute(timedelta(minutes=m), "1.00") for m in range(1440)]

    spec = charts.revenue_chart("EUR", points)
    bars = drawn_bars(spec)

    assert len(spec["hconcat"]) == 1 and len(bars) == 1440
    width = spec["hconcat"][0]["width"]
    assert all(b["width"] == charts.MIN_BAR_PX for b in bars)
    assert all(0 <= b["x"] and b["x"] + b["width"] <= width for b in bars)


def test_the_chart_carries_exact_money_as_text():
    points = [minute(timedelta(0), "123456789012.35"), minute(timedelta(minutes=1), "0.10")]

    values = charts.revenue_chart("USD", points)["data"]["values"]

    assert [v["label"] for v in values] == [
        "2026-11-20 10:00 UTC: net 123,456,789,012.35 USD (paid 123,456,789,012.35 in 1, "
        "refunded 0.00 in 0)",
        "2026-11-20 10:01 UTC: net 0.10 USD (paid 0.10 in 1, refunded 0.00 in 0)",
    ]
    assert [v["net"] for v in values] == ["123456789012.35", "0.10"]


def test_count_chart_draws_non_zero_counts_side_by_side_with_every_group_on_the_axis():
    groups = [
        charts.CountGroup("1", "batch 1 (a.jsonl)", (("duplicates", 2), ("conflicts", 1))),
        charts.CountGroup("2", "batch 2 (b.jsonl)", (("duplicates", 0), ("rejects", 0))),
        charts.CountGroup("3", "batch 3 (c.jsonl)", (("rejects", 4),)),
    ]

    spec = charts.count_chart(groups, title="per batch")
    bars = drawn_bars(spec)

    assert spec["encoding"]["x"]["scale"]["domain"] == ["1", "2", "3"]
    assert sorted(b["description"] for b in bars) == [
        "batch 1 (a.jsonl): 1 conflicts",
        "batch 1 (a.jsonl): 2 duplicates",
        "batch 3 (c.jsonl): 4 rejects",
    ]
    dup, conflict = sorted(
        (b for b in bars if b["description"].startswith("batch 1")), key=lambda b: b["x"]
    )
    assert dup["x"] + dup["width"] <= conflict["x"]  # not stacked: conflicts are duplicates too
    assert dup["height"] == pytest.approx(conflict["height"] * 2)


def test_the_bundle_defines_vega_embed_and_cannot_close_the_script_that_holds_it():
    bundle = charts.javascript_bundle()

    assert "window.vegaEmbed" in bundle
    assert "</script" not in bundle.lower()


def test_money_is_shown_exactly():
    assert money(Decimal("65")) == "65.00"
    assert money(Decimal("-5.00")) == "-5.00"
    assert money(Decimal("123456789012345678.91")) == "123,456,789,012,345,678.91"
    assert money(Decimal("0.005")) == "0.005"


def test_producer_chart_draws_each_sequence_with_its_gaps_visible():
    from countonce.report.queries import ProducerCompleteness, ProducerGap

    producers = [
        ProducerCompleteness("p1", 999_999, 999_999, 1, 1, 0, 500_000, START, 60, 0, 0),
        ProducerCompleteness("p2", 9, 10, 0, 0, 0, None, None, None, 0, 0),
    ]
    gaps = [ProducerGap("p1", 500_000, 500_000, 1, START, False)]

    spec = charts.producer_chart(producers, gaps)
    scenegraph = vl_convert.vegalite_to_scenegraph(spec, vl_version=charts.VEGA_LITE_VERSION)
    marks: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("role") == "mark" and node.get("marktype") == "rect":
                marks.extend(node["items"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(scenegraph["scenegraph"])
    described = {m["description"]: m for m in marks}
    assert set(described) == {
        "p1: 999,999 of 1,000,000 numbers arrived",
        "p2: 10 of 10 numbers arrived",
        "p1: 500,000-500,000 missing (1), noticed 2026-11-20 10:00:00 UTC",
    }
    arrived = described["p1: 999,999 of 1,000,000 numbers arrived"]
    tick = [m for m in marks if m["description"].startswith("p1: 500") and m["width"] >= 2]
    assert tick, "a gap of one number in a million is drawn at least 2 px wide"
    middle = tick[0]["x"] + tick[0]["width"] / 2
    assert middle == pytest.approx(arrived["x"] + arrived["width"] / 2, abs=1)
    assert tick[0]["fill"] == charts.SEQUENCE_COLORS["missing"]
