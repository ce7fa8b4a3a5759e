"""`countonce report`: a self-contained HTML page of a database."""

from __future__ import annotations

from pathlib import Path

import click

from countonce.cli.context import Context, database_option, pass_ctx


@click.command("report")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the page (default: the site directory's report.html).",
)
@database_option
@pass_ctx
def report_command(ctx: Context, out: Path | None, dsn: str | None) -> None:
    """Write a self-contained HTML page: revenue per minute, duplicates, checks, runs."""
    from countonce.report import write_report

    ctx.postgres_only("report")
    ctx.use_database(dsn)
    try:
        path = write_report(ctx.params, out or ctx.settings.site_dir / "report.html")
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the report: {exc}; choose another place with --out"
        ) from None
    click.echo(str(path))
