"""`countonce ingest` and `countonce generate`: the loader and the simulator."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import UTC
from pathlib import Path

import click

from countonce.cli.context import Context, pass_ctx


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
@pass_ctx
def ingest_command(
    ctx: Context,
    sources: tuple[str, ...],
    as_json: bool,
    from_start: bool,
    csv_stdin: bool,
    progress: bool,
) -> None:
    """Load order-event files into raw.order_events.

    SOURCES are .jsonl/.ndjson/.json or .csv files (optionally .gz), directories (every
    event file in them not yet fully loaded, by name) or `-` for stdin. Without SOURCES,
    the inbox (COUNTONCE_INBOX, default .countonce/inbox) is loaded. A file named here is
    read to its end; in a directory, an unterminated last line of a file modified in the
    last COUNTONCE_SETTLE_SECONDS waits (its writer may be mid-line) and is reported pending.
    """
    from ingest.loader import load
    from ingest.sources import SourceError

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


def _simulator_options(command):
    """One option per field of SimulatorConfig, with the simulator's own default and help."""
    from ingest.simulator import SimulatorConfig

    for setting in reversed(dataclasses.fields(SimulatorConfig)):
        name = "--" + setting.name.replace("_", "-")
        kind = {"start": click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"])}.get(setting.name)
        default = setting.default
        if setting.name == "currencies":
            default, kind = ",".join(default), str
        elif setting.name == "orders":
            kind = int
        command = click.option(
            name,
            setting.name,
            type=kind or type(default),
            default=default,
            show_default=setting.name != "orders",
            help=setting.metadata["help"],
        )(command)
    return command


@click.command("generate")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@_simulator_options
def generate_command(out_dir: Path, **options) -> None:
    """Generate a simulated ShopFlow order-event stream and its ground truth (truth.csv)."""
    from ingest.simulator import SimulatorConfig, generate

    currencies = tuple(c.strip() for c in options.pop("currencies").split(",") if c.strip())
    start = options.pop("start")
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    try:
        result = generate(out_dir, SimulatorConfig(currencies=currencies, start=start, **options))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(result))
    sys.stdout.flush()
