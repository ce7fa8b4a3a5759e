"""The `countonce report` command: where to read and where to write, then write_report."""

from __future__ import annotations

from pathlib import Path

import click

from countonce import db
from countonce.report import write_report
from countonce.settings import load_settings


def _database(ctx: click.Context, param: click.Parameter, dsn: str | None) -> dict | None:
    if dsn is None:
        return None
    try:
        return db.params_from_dsn(dsn)
    except db.DatabaseUnavailable as exc:  # what params_from_dsn raises for a malformed DSN
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command("report")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the page (default: the site directory's report.html).",
)
@click.option(
    "--database",
    "params",
    metavar="DSN",
    callback=_database,
    help="The database to report on, as a libpq connection string ('host=... dbname=...') "
    "or a postgresql:// URL (default: the configured database).",
)
def report_command(out: Path | None, params: dict[str, str] | None) -> None:
    """Write a self-contained HTML page: revenue per minute, duplicates, checks, runs."""
    settings = load_settings()
    target = out or settings.site_dir / "report.html"
    try:
        path = write_report(params or db.connection_params(settings), target)
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the report: {exc}; choose another place with --out"
        ) from None
    click.echo(str(path))
