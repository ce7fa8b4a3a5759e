"""`countonce sql`: a read-only query on the configured database, printed as CSV."""

from __future__ import annotations

import csv
import sys

import click
import psycopg

from countonce import db
from countonce.cli.context import Context, database_option, pass_ctx


@click.command("sql")
@click.argument("query")
@database_option
@pass_ctx
def sql_command(ctx: Context, query: str, dsn: str | None) -> None:
    """Run QUERY read-only and print its rows as CSV with a header.

    For example: countonce sql "select * from analytics.fact_revenue_1m order by 1, 2"
    """
    ctx.use_database(dsn)
    with db.connect(ctx.params) as conn:
        conn.read_only = True
        try:
            cur = conn.execute(query)
        except psycopg.Error as exc:
            raise click.ClickException(str(exc).strip()) from None
        if cur.description is None:
            raise click.ClickException("the statement returned no rows to print")
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow([column.name for column in cur.description])
        for row in cur:
            out.writerow(["" if value is None else value for value in row])
