"""`countonce db`: the embedded server, the connection, the schemas and the roles."""

from __future__ import annotations

import os
import shlex

import click

from countonce import db
from countonce.cli.context import Context, pass_ctx
from countonce.settings import libpq_variables


@click.group("db")
def db_group() -> None:
    """The database: start, stop, env, psql, migrate, roles (embedded PostgreSQL unless PG*
    variables or COUNTONCE_DATABASE_URL are set)."""


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


@db_group.command("migrate")
@pass_ctx
def db_migrate(ctx: Context) -> None:
    """Create or upgrade countonce's own schemas (raw, dq, ops); every command does it too."""
    from countonce.migrate import migrate, migrate_spark

    if ctx.settings.on_spark:
        applied = migrate_spark(ctx.settings)
    else:
        with db.connect(ctx.params, autocommit=True) as conn:
            applied = migrate(conn)
    click.echo("applied: " + ", ".join(applied) if applied else "the database is up to date")


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
    psql = db.psql_path()
    env = {**os.environ, **libpq_variables(ctx.params)}
    os.execvpe(psql, [psql, *args], env)
