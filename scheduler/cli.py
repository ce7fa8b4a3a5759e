"""CLI commands of batch runs: `countonce run`, `countonce schedule`, `countonce status`."""

import click


@click.command("run")
def run_command() -> None:
    """Run one batch: load the inbox, dbt build, checks."""
    raise click.ClickException("not built yet")


@click.command("schedule")
def schedule_command() -> None:
    """Run batches on a schedule."""
    raise click.ClickException("not built yet")


@click.command("status")
def status_command() -> None:
    """Show recent runs and the latest check status."""
    raise click.ClickException("not built yet")
