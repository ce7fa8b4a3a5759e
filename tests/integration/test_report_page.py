"""`countonce report` on real data, rendered by a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from test_models_support import fill_event_minute

from countonce.migrate import migrate
from countonce.report import charts, write_report
from scheduler.pipeline import run_batch
from tests.conftest import own_database

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def paid(event_id: str, order_id: str, amount: str, currency: str, at: str) -> dict:
    return {
        "event_id": event_id,
        "order_id": order_id,
        "event_type": "paid",
        "amount": amount,
        "currency": currency,
        "event_time": at,
    }


def land(
    conn: psycopg.Connection,
    source_file: str,
    records: list[dict],
    *,
    rejected_lines: int = 0,
) -> int:
    """Land `records` as one committed load batch, the way the loader does; return its id."""
    lines = len(records) + rejected_lines
    with conn.transaction():
        batch = conn.execute("select nextval('raw.load_batch_id_seq')").fetchone()[0]
        conn.execute(
            """
            insert into raw.load_batches (load_batch_id, source_file, first_line, last_line,
                first_offset, end_offset, lines_read, rows_landed, rows_rejected, started_at)
            values (%s, %s, 1, %s, 0, %s, %s, %s, %s, now())
            """,
            (batch, source_file, lines, lines * 100, lines, len(records), rejected_lines),
        )
        for line, record in enumerate(records, start=1):
            conn.execute(
                "insert into raw.order_events (load_batch_id, source_file, source_line,"
                " source_offset, record) values (%s, %s, %s, %s, %s)",
                (batch, source_file, line, (line - 1) * 100, Jsonb(record)),
            )
        fill_event_minute(conn, batch)
        for extra in range(rejected_lines):
            line = len(records) + extra + 1
            conn.execute(
                "insert into raw.load_rejects (load_batch_id, source_file, source_line,"
                " source_offset, reason, raw_text, raw_bytes)"
                " values (%s, %s, %s, %s, 'invalid_json', '{not json', 9)",
                (batch, source_file, line, (line - 1) * 100),
            )
    return batch


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` runs this test")
    return CHROMIUM


def render_in_chromium(chromium: str, page: Path, tmp_path: Path) -> dict:
    """Open a copy of `page` in headless Chromium and return what the browser laid out.

    The copy carries a probe script that waits until the page has drawn its charts, then
    records the on-screen box and the label of every bar and the text of every table: a chart
    that the browser did not draw has no boxes.
    """
    probe = """
<script>
window.addEventListener("load", function probe() {
  if (!document.body.dataset.charts) return setTimeout(probe, 50);
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height}; };
  const out = {drawn: document.body.dataset.charts, charts: [], tables: [], empty: []};
  for (const chart of document.querySelectorAll("div.chart")) {
    out.charts.push({cls: chart.getAttribute("class"), currency: chart.dataset.currency || null,
      box: box(chart),
      marks: [...chart.querySelectorAll('svg [aria-roledescription="bar"]')].map((bar) => ({
        label: bar.getAttribute("aria-label"), box: box(bar)}))});
  }
  for (const t of document.querySelectorAll("table")) {
    out.tables.push({headers: [...t.querySelectorAll("th")].map((th) => th.textContent),
      rows: [...t.querySelectorAll("tbody tr")].map((tr) =>
        [...tr.children].map((td) => td.textContent))});
  }
  for (const p of document.querySelectorAll(".empty")) out.empty.push(p.textContent);
  out.verdict = (document.querySelector(".verdict") || {}).textContent || null;
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""
    probed = tmp_path / "probed.html"
    # The last </body>: Vega's script in the page holds the text "</body>" too.
    body, end = page.read_text().rsplit("</body>", 1)
    probed.write_text(body + probe + "</body>" + end)
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--window-size=1280,2000",
            # Let the page's script and the probe's timers run before the DOM is dumped.
            "--virtual-time-budget=60000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"Chromium did not run the page:\n{proc.stderr[-2000:]}"
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&"))


def table_rows(seen: dict, first_header: str) -> list[list[str]]:
    return next(t["rows"] for t in seen["tables"] if t["headers"][:1] == [first_header])


def chart_specs(page: str) -> dict[str, dict]:
    """The Vega-Lite spec of every chart on `page`, by the id of the element it is drawn in."""
    found = re.findall(
        r'<script type="application/json" id="(chart-[\w-]+)-spec">(.*?)</script>', page
    )
    return {chart_id: json.loads(text) for chart_id, text in found}


def counted(marks: list[dict]) -> list[tuple[str, str]]:
    """(what, count) of each bar of a count chart, from its label: "batch 2 (...): 2 rejects"."""
    return sorted(
        (what, n)
        for n, what in (re.search(r": ([\d,]+) (\w+)$", m["label"]).groups() for m in marks)
    )


def test_report_on_an_empty_database_says_what_is_missing(cli, settings):
    proc = cli("report", check=True)

    path = Path(proc.stdout.strip())
    assert path == settings.site_dir / "report.html"
    page = path.read_text()
    assert "no revenue yet" in page
    assert "nothing loaded yet" in page
    assert "no checks recorded yet" in page
    assert "no runs recorded yet" in page
    assert chart_specs(page) == {}
    assert "<script" not in page  # nothing to draw, so no Vega to carry


def test_report_cli_names_what_to_do_when_it_cannot_write(cli, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")

    proc = cli("report", "--out", str(blocker / "report.html"))

    assert proc.returncode == 1
    assert "cannot write the report" in proc.stderr and "--out" in proc.stderr


def test_report_cli_reads_the_database_named_by_its_database_option(cli, pg_server, tmp_path):
    """The configured database is empty; --database names another, with a batch landed."""
    with own_database(pg_server) as other:
        with psycopg.connect(**other, autocommit=True) as conn:
            migrate(conn)
            land(conn, "elsewhere.jsonl", [paid("e1", "o1", "65.00", "USD", "x")])
        url = f"postgresql:///{other['dbname']}?" + urlencode(
            {k: v for k, v in other.items() if k != "dbname"}
        )
        out = tmp_path / "other.html"

        for dsn in (make_conninfo(**other), url):
            proc = cli("report", "--database", dsn, "--out", str(out), check=True)

            assert Path(proc.stdout.strip()) == out
            page = out.read_text()
            assert f"Database {other['dbname']} on " in page
            assert "elsewhere.jsonl" in page and "nothing loaded yet" not in page


def test_report_cli_refuses_a_database_option_that_names_no_database(cli):
    proc = cli("report", "--database", "not a connection string")

    assert proc.returncode == 2
    assert "--database" in proc.stderr and "not a connection string or URL" in proc.stderr


def test_report_from_landing_alone_counts_batches_and_escapes_text(migrated, settings, database):
    migrate(migrated)
    land(migrated, "<script>alert(1)</script>.jsonl", [paid("e1", "o1", "65.00", "USD", "x")])
    land(migrated, "b.jsonl", [], rejected_lines=2)

    page = write_report(database, settings.home / "r.html").read_text()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jsonl" in page
    assert 'data-figure="rows landed"><span class="value">1</span>' in page
    assert 'data-figure="lines rejected at load"><span class="value">2</span>' in page
    assert "run `countonce build` to see what was kept" in page
    (batches,) = chart_specs(page).values()
    rejects = [v for v in batches["data"]["values"] if v["what"] == "rejects"]
    assert [(r["group"], r["count"]) for r in rejects] == [("2", 2)]
    assert "no runs recorded yet" in page


def test_report_draws_revenue_and_duplicates_in_a_browser(
    chromium, migrated, settings, database, tmp_path
):
    """Two real batch runs (dbt build, checks, run ledger) over two landed batches; GBP has
    two minutes six days apart."""
    land(
        migrated,
        "orders-1.jsonl",
        [
            # pos-1 stamps its events 0, 1, 3, 4: number 2 was lost on the way.
            {**event, "producer_id": "pos-1", "sequence": n}
            for n, event in zip(
                (0, 1, 3, 4),
                [
                    paid("evt-9f3", "o-1001", "65.00", "USD", "2026-11-26T10:01:12Z"),
                    paid("evt-9f4", "o-1002", "30.50", "USD", "2026-11-26T10:02:40Z"),
                    paid("evt-a01", "o-1003", "12.25", "EUR", "2026-11-26T10:03:05+02:00"),
                    paid("evt-g01", "o-2001", "7.00", "GBP", "2026-11-20T09:00:30Z"),
                ],
                strict=True,
            )
        ],
    )
    first_run = run_batch(settings, database)
    land(
        migrated,
        "orders-2.jsonl",
        [
            paid("evt-9f3", "o-1001", "65.00", "USD", "2026-11-26T10:01:12Z"),
            paid("evt-9f4", "o-1002", "31.00", "USD", "2026-11-26T10:02:40Z"),
            {
                "event_id": "evt-r01",
                "order_id": "o-1001",
                "event_type": "refunded",
                "amount": "5.00",
                "currency": "USD",
                "event_time": "2026-11-26T10:04:00Z",
            },
            {"event_id": "evt-x", "order_id": "o-9", "event_type": "bogus"},
            paid("evt-g02", "o-2002", "9.00", "GBP", "2026-11-26T09:00:00Z"),
        ],
        rejected_lines=1,
    )
    second_run = run_batch(settings, database)
    assert (first_run.status, second_run.status) == ("succeeded", "succeeded"), second_run.error

    page = write_report(database, settings.site_dir / "report.html")
    seen = render_in_chromium(chromium, page, tmp_path)

    assert seen["drawn"] == "drawn"
    revenue = {c["currency"]: c for c in seen["charts"] if "revenue" in c["cls"]}
    assert sorted(revenue) == ["EUR", "GBP", "USD"]
    usd = [
        (*re.match(r"(.+ UTC): net (\S+) USD", m["label"]).groups(), m["box"])
        for m in revenue["USD"]["marks"]
    ]
    assert [(when, net) for when, net, _ in usd] == [
        ("2026-11-26 10:01 UTC", "65.00"),
        ("2026-11-26 10:02 UTC", "30.50"),
        ("2026-11-26 10:04 UTC", "-5.00"),
    ]
    first, second, refund = (box for *_, box in usd)
    for box in (first, second, refund):
        assert box["width"] > 0 and box["height"] > 0
    assert first["height"] == pytest.approx(second["height"] * 65 / 30.5, rel=0.02)
    assert refund["y"] >= first["y"] + first["height"] - 0.5
    assert [m["label"][:20] for m in revenue["EUR"]["marks"]] == ["2026-11-26 08:03 UTC"]
    # Six days apart, each GBP minute is still a bar a few pixels wide, in a panel of its own.
    gbp = revenue["GBP"]["marks"]
    assert [m["label"][:20] for m in gbp] == ["2026-11-20 09:00 UTC", "2026-11-26 09:00 UTC"]
    for mark in gbp:
        assert charts.MIN_BAR_PX - 0.5 <= mark["box"]["width"] <= charts.MAX_BAR_PX + 0.5
        assert mark["box"]["height"] > 0
    assert gbp[1]["box"]["x"] - gbp[0]["box"]["x"] >= charts.MIN_PANEL_WIDTH
    assert gbp[0]["box"]["height"] == pytest.approx(gbp[1]["box"]["height"] * 7 / 9, rel=0.02)

    totals = table_rows(seen, "currency")
    assert [row[:1] + row[4:] for row in totals] == [
        ["EUR", "12.25", "0.00", "12.25", "1", "0"],
        ["GBP", "16.00", "0.00", "16.00", "2", "0"],
        ["USD", "95.50", "5.00", "90.50", "2", "1"],
    ]
    assert table_rows(seen, "minute") == [
        ["2026-11-26 10:04 UTC", "USD", "0.00", "5.00", "-5.00", "0", "1"],
        ["2026-11-26 10:02 UTC", "USD", "30.50", "0.00", "30.50", "1", "0"],
        ["2026-11-26 10:01 UTC", "USD", "65.00", "0.00", "65.00", "1", "0"],
        ["2026-11-26 09:00 UTC", "GBP", "9.00", "0.00", "9.00", "1", "0"],
        ["2026-11-26 08:03 UTC", "EUR", "12.25", "0.00", "12.25", "1", "0"],
        ["2026-11-20 09:00 UTC", "GBP", "7.00", "0.00", "7.00", "1", "0"],
    ]

    batches = next(c for c in seen["charts"] if "batches" in c["cls"])
    assert counted(batches["marks"]) == [("conflicts", "1"), ("duplicates", "2"), ("rejects", "2")]
    assert all(m["box"]["height"] > 0 for m in batches["marks"])

    producers = next(c for c in seen["charts"] if "producers" in c["cls"])
    labels = {m["label"].split(", noticed")[0]: m["box"] for m in producers["marks"]}
    assert set(labels) == {"pos-1: 4 of 5 numbers arrived", "pos-1: 2-2 missing (1)"}
    sequence, gap = labels["pos-1: 4 of 5 numbers arrived"], labels["pos-1: 2-2 missing (1)"]
    assert gap["width"] == pytest.approx(sequence["width"] / 5, rel=0.02)
    assert gap["x"] == pytest.approx(sequence["x"] + 2 * sequence["width"] / 5, abs=1)
    assert table_rows(seen, "producer")[0][:7] == ["pos-1", "4", "4", "1", "80.00%", "1", "0"]

    runs = next(c for c in seen["charts"] if "runs" in c["cls"])
    of_second = [m for m in runs["marks"] if m["label"].startswith(f"run {second_run.run_id} ")]
    assert {("duplicates", "2"), ("conflicts", "1")} <= set(counted(of_second))
    history = table_rows(seen, "started_at")
    assert [row[2] for row in history] == ["succeeded", "succeeded"]
    assert history[0][5:7] == ["2", "1"]

    checks = migrated.execute(
        "select count(*), count(*) filter (where not success and severity = 'critical')"
        " from dq.latest_check_status"
    ).fetchone()
    assert checks[0] > 0 and checks[1] == 0
    assert len(table_rows(seen, "severity")) == checks[0]
    assert f"{checks[0]} checks:" in seen["verdict"] and "0 critical failed" in seen["verdict"]
