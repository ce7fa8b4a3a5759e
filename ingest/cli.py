"""CLI commands of the loader: `countonce ingest` and `countonce generate`."""

import click


@click.command("ingest")
def ingest_command() -> None:
    """Load order-event files into raw.order_events."""
    raise click.ClickException("not built yet")


@click.command("generate")
def generate_command() -> None:
    """Generate a simulated order-event stream and its ground truth."""
    raise click.ClickException("not built yet")
