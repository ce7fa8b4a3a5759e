"""The countonce command line: thin commands that call plain functions."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys

import click
import psycopg

from countonce import db, logs
from countonce.settings import Settings, libpq_variables, load_settings

log = logging.getLogger("countonce")


class Context:
    def __init__(self) -> None:
        self.settings: Settings = load_settings()
        self._params: dict[str, str] | None = None

    @property
    def params(self) -> dict[str, str]:
        if self._params is None:
            self._params = db.connection_params(self.settings)
        return self._params


pass_ctx = click.make_pass_decorator(Context, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-json", is_flag=True, help="Write logs as JSON lines (stderr).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.pass_context
def main_group(click_ctx: click.Context, log_json: bool, verbose: bool) -> None:
    """countonce: exactly-once revenue from at-least-once order events."""
    ctx = click_ctx.ensure_object(Context)
    logs.configure(
        json_lines=log_json or ctx.settings.log_json,
        level=logging.DEBUG if verbose else logging.INFO,
    )


@main_group.group("db")
def db_group() -> None:
    """The database: start, stop, env, psql (embedded PostgreSQL unless PG* variables are set)."""


@db_group.command("start")
@pass_ctx
def db_start(ctx: Context) -> None:
    """Start the embedded PostgreSQL (under .countonce/) and print where it listens."""
    if not ctx.settings.embedded:
        raise click.ClickException(
            "a database is configured (PG* or COUNTONCE_DATABASE_URL); nothing embedded to start"
        )
    params = ctx.params
    click.echo(
        f"embedded PostgreSQL running: host={params['host']} port={params['port']} "
        f"dbname={params['dbname']}"
    )


@db_group.command("stop")
@pass_ctx
def db_stop(ctx: Context) -> None:
    """Stop the embedded PostgreSQL."""
    stopped = db.stop_embedded(ctx.settings)
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@db_group.command("env")
@pass_ctx
def db_env(ctx: Context) -> None:
    """Print `export PG...=` lines; use as: eval "$(countonce db env)"."""
    for name, value in libpq_variables(ctx.params).items():
        click.echo(f"export {name}={shlex.quote(value)}")


@db_group.command("roles")
@pass_ctx
def db_roles(ctx: Context) -> None:
    """Create or update the least-privilege roles (loader, transformer, analyst); idempotent.

    Passwords come from COUNTONCE_LOADER_PASSWORD, COUNTONCE_TRANSFORMER_PASSWORD and
    COUNTONCE_ANALYST_PASSWORD; a role without one logs in only where the server trusts it.
    """
    from countonce.roles import ensure_roles

    click.echo(str(ensure_roles(ctx.settings, ctx.params)))


@db_group.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def db_psql(ctx: Context, args: tuple[str, ...]) -> None:
    """Open psql on the database (extra arguments go to psql)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    env = {**os.environ, **libpq_variables(ctx.params)}
    psql = str(POSTGRES_BIN_PATH / "psql")
    os.execvpe(psql, [psql, *args], env)


@main_group.command("dbt", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def dbt_command(ctx: Context, args: tuple[str, ...]) -> None:
    """Run any dbt command in-process against the configured database (e.g. `dbt parse`)."""
    from countonce import dbt

    outcome = dbt.invoke(ctx.settings, ctx.params if args[:1] != ("parse",) else {}, list(args))
    if not outcome.success:
        raise click.ClickException("dbt failed: " + "; ".join(outcome.failures or ["see above"]))


@main_group.command("build")
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from all history.")
@pass_ctx
def build_command(ctx: Context, full_refresh: bool) -> None:
    """Run `dbt build` in-process: staging, dedup, the fact, reconciliation and dbt tests."""
    from countonce import dbt

    try:
        dbt.build(ctx.settings, ctx.params, ["--full-refresh"] if full_refresh else [])
    except dbt.DbtFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("dbt build succeeded")


@main_group.command("docs")
@pass_ctx
def docs_command(ctx: Context) -> None:
    """Publish the dbt docs (every model and column) as one page in the site directory."""
    from countonce import dbt

    outcome = dbt.invoke(ctx.settings, ctx.params, ["docs", "generate", "--static", "--quiet"])
    if not outcome.success:
        raise click.ClickException(
            "dbt docs generate failed: " + "; ".join(outcome.failures or ["see dbt logs"])
        )
    page = ctx.settings.site_dir / "dbt_docs" / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dbt.target_dir(ctx.settings) / "static_index.html", page)
    click.echo(f"dbt docs: {page}")


def _register_area_commands() -> None:
    from countonce.demo import demo_command
    from countonce.report import report_command
    from expectations.cli import check_command
    from ingest.cli import generate_command, ingest_command
    from ingest.webhooks.command import serve_command
    from scheduler.cli import run_command, schedule_command, status_command

    for command in (
        demo_command,
        ingest_command,
        serve_command,
        generate_command,
        check_command,
        run_command,
        schedule_command,
        status_command,
        report_command,
    ):
        main_group.add_command(command)


_register_area_commands()


def main() -> None:
    try:
        main_group(obj=None, standalone_mode=True)
    except db.DatabaseUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
    except psycopg.errors.InsufficientPrivilege as exc:
        click.echo(
            f"error: the database refused: {str(exc).strip()}. Connect as a role that may do "
            "this (see `countonce db roles --help`).",
            err=True,
        )
        log.debug("refused", exc_info=True)
        sys.exit(1)
