"""The countonce command line: thin commands that call plain functions.

Nothing outside this package imports it: each area (ingest, expectations, scheduler, the
report, the demo) offers plain functions, and the commands here call them.
"""

from __future__ import annotations

import logging
import sys

import click
import psycopg

from countonce import db, logs
from countonce.cli.batches import run_command, schedule_command, status_command
from countonce.cli.checks import check_command
from countonce.cli.context import Context
from countonce.cli.database import db_group
from countonce.cli.demo import demo_command
from countonce.cli.ingest import generate_command, ingest_command
from countonce.cli.models import build_command, dbt_command, docs_command
from countonce.cli.report import report_command
from countonce.cli.serve import serve_command
from countonce.cli.sql import sql_command

log = logging.getLogger("countonce")


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


for _command in (
    db_group,
    demo_command,
    ingest_command,
    serve_command,
    generate_command,
    build_command,
    dbt_command,
    docs_command,
    check_command,
    run_command,
    schedule_command,
    status_command,
    report_command,
    sql_command,
):
    main_group.add_command(_command)


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
