"""CLI commands of the loader: `countonce ingest` and `countonce generate`."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click


def _context():
    from countonce.cli import Context

    return click.get_current_context().ensure_object(Context)


@click.command("ingest")
@click.argument("sources", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option(
    "--from-start",
    is_flag=True,
    help="Read the files again from their first byte (a replay), ignoring offsets.",
)
@click.option("--csv-stdin", is_flag=True, help="stdin (`-`) carries CSV, not JSON Lines.")
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress bar on stderr (only when it is a terminal).",
)
def ingest_command(
    sources: tuple[str, ...], as_json: bool, from_start: bool, csv_stdin: bool, progress: bool
) -> None:
    """Load order-event files into raw.order_events.

    SOURCES are .jsonl/.ndjson/.json or .csv files (optionally .gz), directories (every
    event file in them not yet fully loaded, by name) or `-` for stdin. Without SOURCES,
    the inbox (COUNTONCE_INBOX, default .countonce/inbox) is loaded.
    """
    from ingest.loader import load
    from ingest.sources import SourceError

    ctx = _context()
    inputs = list(sources)
    if not inputs:
        inbox = ctx.settings.inbox
        if not inbox.is_dir():
            raise click.ClickException(f"no sources given and the inbox {inbox} does not exist")
        inputs = [str(inbox)]
    try:
        summary = load(
            ctx.settings,
            ctx.params,
            inputs,
            progress=progress,
            from_start=from_start,
            stdin_csv=csv_stdin,
        )
    except (SourceError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(summary.as_dict()) if as_json else str(summary))


@click.command("generate")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--events",
    type=int,
    default=10_000,
    show_default=True,
    help="Distinct logical events to produce (before duplicates and malformed lines).",
)
@click.option(
    "--orders", type=int, default=None, help="Distinct orders (default: about a third of --events)."
)
@click.option(
    "--currencies", default="USD,EUR,GBP", show_default=True, help="Comma-separated ISO 4217 codes."
)
@click.option(
    "--rate", type=float, default=50.0, show_default=True, help="Events per second of event time."
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    default=None,
    help="Event time of the first event (default 2026-11-26T10:00:00Z).",
)
@click.option("--files", type=int, default=4, show_default=True, help="Event files to write.")
@click.option(
    "--retry-rate",
    type=float,
    default=0.02,
    show_default=True,
    help="Share of events a producer sends twice, close together.",
)
@click.option(
    "--replays",
    type=int,
    default=1,
    show_default=True,
    help="Event files replayed whole, as an extra file.",
)
@click.option(
    "--late-rate",
    type=float,
    default=0.01,
    show_default=True,
    help="Share of events arriving hours or days after their event time.",
)
@click.option(
    "--disorder",
    type=float,
    default=0.05,
    show_default=True,
    help="Share of events arriving out of order within a few minutes.",
)
@click.option(
    "--conflict-rate",
    type=float,
    default=0.002,
    show_default=True,
    help="Share of events re-sent later with a different amount.",
)
@click.option(
    "--refund-rate",
    type=float,
    default=0.05,
    show_default=True,
    help="Share of paid orders later refunded.",
)
@click.option(
    "--malformed-rate",
    type=float,
    default=0.001,
    show_default=True,
    help="Share of extra lines that are broken.",
)
@click.option(
    "--number-rate",
    type=float,
    default=0.1,
    show_default=True,
    help="Share of amounts written as JSON numbers instead of strings.",
)
def generate_command(out_dir: Path, start: datetime | None, **options) -> None:
    """Generate a simulated ShopFlow order-event stream and its ground truth (truth.csv)."""
    from ingest.simulator import DEFAULT_START, SimulatorConfig, generate

    currencies = tuple(c.strip() for c in options.pop("currencies").split(",") if c.strip())
    config = SimulatorConfig(currencies=currencies, start=start or DEFAULT_START, **options)
    try:
        result = generate(out_dir, config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(result))
    sys.stdout.flush()
