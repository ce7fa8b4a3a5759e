"""`countonce build`, `countonce dbt` and `countonce docs`: dbt in-process."""

from __future__ import annotations

import shutil

import click

from countonce import db, dbt
from countonce.cli.context import Context, pass_ctx
from countonce.migrate import migrate, migrate_spark


def _migrated(ctx: Context) -> dict[str, str]:
    """The database's params, with countonce's own schemas in place: a build before the first
    load then builds empty models instead of failing on a missing landing table."""
    if ctx.settings.on_spark:
        migrate_spark(ctx.settings)
        return {}
    with db.connect(ctx.params, autocommit=True) as conn:
        migrate(conn)
    return ctx.params


@click.command("dbt", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def dbt_command(ctx: Context, args: tuple[str, ...]) -> None:
    """Run any dbt command in-process against the configured database (e.g. `dbt parse`)."""
    params = {} if args[:1] == ("parse",) else _migrated(ctx)
    outcome = dbt.invoke(ctx.settings, params, list(args))
    if not outcome.success:
        raise click.ClickException("dbt failed: " + "; ".join(outcome.failures or ["see above"]))


@click.command("build")
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from all history.")
@pass_ctx
def build_command(ctx: Context, full_refresh: bool) -> None:
    """Run `dbt build` in-process: staging, dedup, the fact, reconciliation and dbt tests.

    It records nothing as processed (a batch run does, after its checks): the next run
    processes the same batches again, which changes no number.
    """
    try:
        dbt.build(ctx.settings, _migrated(ctx), ["--full-refresh"] if full_refresh else [])
    except dbt.DbtFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("dbt build succeeded")


@click.command("docs")
@pass_ctx
def docs_command(ctx: Context) -> None:
    """Publish the dbt docs (every model and column) as one page in the site directory."""
    outcome = dbt.invoke(ctx.settings, _migrated(ctx), ["docs", "generate", "--static", "--quiet"])
    if not outcome.success:
        raise click.ClickException(
            "dbt docs generate failed: " + "; ".join(outcome.failures or ["see dbt logs"])
        )
    page = ctx.settings.site_dir / "dbt_docs" / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dbt.target_dir(ctx.settings) / "static_index.html", page)
    click.echo(f"dbt docs: {page}")
