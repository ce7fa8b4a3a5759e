"""`countonce demo`: the traced example and a small generated stream, end to end.

The demo owns a database of its own (countonce_demo) on the embedded server, or on the
configured one, and recreates it each time, so it always starts fresh and prints the same
figures.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from psycopg.conninfo import make_conninfo

from countonce import db
from countonce.settings import Settings, child_environment

log = logging.getLogger(__name__)

DEMO_DATABASE = "countonce_demo"
TRACED_LINES = [
    {
        "event_id": "evt-9f1",
        "order_id": "o-1001",
        "event_type": "created",
        "customer_id": "c-77",
        "event_time": "2026-11-26T10:00:41Z",
    },
    {
        "event_id": "evt-9f3",
        "order_id": "o-1001",
        "event_type": "paid",
        "amount": "65.00",
        "currency": "USD",
        "event_time": "2026-11-26T10:01:12Z",
    },
]
STREAM_SEED = 7


def _write_traced(path: Path) -> None:
    created, paid = (json.dumps(r, separators=(",", ":")) for r in TRACED_LINES)
    # The producer lost the ack of evt-9f3 and sent it again.
    path.write_text(f"{created}\n{paid}\n{paid}\n")


def _counts(conn) -> dict[str, int]:
    row = conn.execute(
        """
        select
            (select coalesce(sum(lines_read), 0) from raw.load_batches),
            (select count(*) from raw.order_events),
            (select count(*) from raw.load_rejects),
            (select count(*) from intermediate.int_order_events_deduplicated),
            (select count(*) from intermediate.int_order_events_rejected),
            (select count(*) from intermediate.int_order_event_conflicts)
        """
    ).fetchone()
    lines, landed, load_rejects, kept, staged_rejects, conflicts = row
    return {
        "lines_read": lines,
        "rows_landed": landed,
        "rejected_at_load": load_rejects,
        "events_kept": kept,
        "rejected_in_staging": staged_rejects,
        "duplicates_absorbed": landed - kept - staged_rejects,
        "conflicts": conflicts,
    }


def _revenue(conn, minute: str, currency: str) -> tuple[Decimal, int] | None:
    return conn.execute(
        "select net_amount, paid_event_count from analytics.fact_revenue_1m"
        " where minute = %s and currency = %s",
        (minute, currency),
    ).fetchone()


def _truth_mismatches(conn, truth_path: Path) -> tuple[int, int]:
    from ingest.simulator import read_truth

    truth = read_truth(truth_path)
    fact = {
        (m, c): (gross, refunded, paid, refunds)
        for m, c, gross, refunded, paid, refunds in conn.execute(
            "select minute, currency, gross_paid_amount, refunded_amount, paid_event_count,"
            " refund_event_count from analytics.fact_revenue_1m where minute < '2026-11-26'"
        )
    }
    wrong = 0
    for key, row in truth.items():
        expected = (
            row["gross_paid_amount"],
            row["refunded_amount"],
            row["paid_event_count"],
            row["refund_event_count"],
        )
        wrong += fact.pop(key, None) != expected
    return len(truth), wrong + len(fact)


def _lost_and_found(conn, dropped_path: Path) -> tuple[int, list[str], bool]:
    """The events the simulator lost, against the gaps countonce found: how many were lost,
    the gaps as text, and whether the gaps are exactly the lost events (those below their
    producer's highest number; a loss after a producer's last event cannot be seen yet)."""
    from ingest.simulator import read_dropped

    lost = read_dropped(dropped_path)
    highest = dict(
        conn.execute("select producer_id, highest_sequence from analytics.producer_completeness")
    )
    found: dict[str, set[int]] = {}
    gaps = []
    for producer, first, last in conn.execute(
        "select producer_id, first_missing, last_missing from analytics.producer_gaps"
        " order by producer_id, first_missing"
    ):
        found.setdefault(producer, set()).update(range(first, last + 1))
        gaps.append(f"{producer} #{first}" + (f"-{last}" if last > first else ""))
    visible = {
        producer: {n for n in numbers if n < highest.get(producer, -1)}
        for producer, numbers in lost.items()
    }
    exact = {p: n for p, n in visible.items() if n} == found
    return sum(len(n) for n in lost.values()), gaps, exact


def run_demo(settings: Settings, echo: Callable[[str], None]) -> bool:
    """Play the demo; True when every number came out right and every critical check passed."""
    from countonce.report import write_report
    from expectations.checks import run_checks
    from ingest.loader import load
    from ingest.simulator import SimulatorConfig, generate
    from scheduler.pipeline import run_batch

    server = db.connection_params(settings)
    db.drop_database(server, DEMO_DATABASE)
    db.create_database(server, DEMO_DATABASE)
    params = {**server, "dbname": DEMO_DATABASE}
    work = settings.home / "demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    demo = dataclasses.replace(
        settings,
        database_url=make_conninfo(**params),
        home=work,
        inbox=work / "inbox",
        fail_at=None,
    )

    echo(f"countonce demo: database {DEMO_DATABASE} at {server['host']}:{server['port']}\n")
    echo("1. The traced example: evt-9f3, order o-1001 paid 65.00 USD at 10:01:12")
    traced = work / "traced.jsonl"
    _write_traced(traced)
    echo("   the producer sends evt-9f3 twice (a retry after a lost ack): 3 lines")
    crash = subprocess.run(
        [sys.executable, "-m", "countonce", "ingest", str(traced)],
        env=child_environment(
            {
                "COUNTONCE_DATABASE_URL": demo.database_url,
                "COUNTONCE_HOME": str(work),
                "COUNTONCE_FAIL_AT": "after-copy",
            }
        ),
        capture_output=True,
        text=True,
    )
    echo(
        f"   the loader commits the rows, then crashes before recording its offset "
        f"(exit {crash.returncode})"
    )
    replay = load(demo, params, [str(traced)])
    echo(f"   restarted, it replays the file: {replay.landed} more rows landed")

    echo(
        f"\n2. A generated stream (seed {STREAM_SEED}) with retries, replays, late and "
        "out-of-order events, refunds, conflicts and malformed lines; 3 producers stamp"
        " sequence numbers, and a few events are lost in transit on purpose"
    )
    config = SimulatorConfig(
        seed=STREAM_SEED,
        events=3000,
        files=3,
        rate=5.0,
        malformed_rate=0.01,
        producers=3,
        drop_rate=0.002,
    )
    stream = generate(work / "stream", config)
    loaded = load(demo, params, [str(work / "stream")])
    echo(
        f"   {len(stream.files)} files, {loaded.lines_read} lines read, {loaded.landed} landed, "
        f"{loaded.rejected} rejected at load"
    )

    echo(
        "\n3. A batch run: dbt build (dedup, fact_revenue_1m by overwrite, reconciliation,"
        " tests), then the checks; its batches are recorded as processed"
    )
    record = run_batch(demo, params)
    echo(f"   run {record.status}: {record.load_batches_processed or 0} load batches processed")

    with db.connect(params) as conn:
        counts = _counts(conn)
        traced_revenue = _revenue(conn, "2026-11-26 10:01:00+00", "USD")
        minutes, wrong = _truth_mismatches(conn, stream.out_dir / "truth.csv")
        lost, gaps, gaps_exact = _lost_and_found(conn, stream.out_dir / "dropped.csv")
    report = run_checks(demo, params, full=True)

    echo("\nWhat happened")
    width = max(len(k) for k in counts)
    for name, value in counts.items():
        echo(f"   {name.replace('_', ' '):{width}}  {value:>8}")
    net, paid_events = traced_revenue or (None, 0)
    once = net == Decimal("65.00") and paid_events == 1
    echo(
        f"\n   revenue 2026-11-26 10:01 USD = {net} from {paid_events} paid event"
        f"{'s' if paid_events != 1 else ''}: "
        + ("counted once" if once else "WRONG, expected 65.00 from 1 paid event")
    )
    echo(
        f"   generated stream: {minutes - wrong} of {minutes} minute/currency rows equal the "
        "simulator's ground truth to the cent"
    )
    echo(
        f"   events lost in transit: {lost}; gaps in the producers' sequences: "
        + (", ".join(gaps) or "none")
        + (": exactly the lost events" if gaps_exact else ": NOT the lost events")
    )
    failed = [r for r in report.results if not r.success]
    echo(
        f"\nChecks: {len(report.results) - len(failed)} of {len(report.results)} passed "
        f"({report.critical_failed} critical failed, {report.warnings} warnings)"
    )
    for result in failed:
        echo(f"   {result.severity}: {result.suite}.{result.expectation}")
    echo(f"   Data Docs: {report.data_docs_index}")
    page = write_report(params, settings.site_dir / "demo_report.html")
    echo(f"\nReport of this database: {page}")
    echo(f"Look around: countonce db psql -d {DEMO_DATABASE} -c 'table analytics.fact_revenue_1m'")
    return once and wrong == 0 and gaps_exact and record.status == "succeeded" and report.success
