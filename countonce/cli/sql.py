"""`countonce sql`: a read-only query on the configured target, printed as CSV."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime

import click
import psycopg

from countonce import db
from countonce.cli.context import Context, database_option, pass_ctx


@click.command("sql")
@click.argument("query")
@database_option
@pass_ctx
def sql_command(ctx: Context, query: str, dsn: str | None) -> None:
    """Run QUERY read-only and print its rows as CSV with a header, on PostgreSQL or on Spark
    (COUNTONCE_TARGET): the same relation names on both. Times are printed in UTC.

    For example: countonce sql "select * from analytics.fact_revenue_1m order by 1, 2"
    """
    if ctx.settings.on_spark:
        columns, rows = _spark(ctx, query)
    else:
        ctx.use_database(dsn)
        columns, rows = _postgres(ctx, query)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(columns)
    for row in rows:
        out.writerow([_text(value) for value in row])


def _postgres(ctx: Context, query: str):
    with db.connect(ctx.params) as conn:
        conn.read_only = True
        try:
            cur = conn.execute(query)
        except psycopg.Error as exc:
            raise click.ClickException(str(exc).strip()) from None
        if cur.description is None:
            raise click.ClickException("the statement returned no rows to print")
        return [column.name for column in cur.description], cur.fetchall()


def _spark(ctx: Context, query: str):
    from countonce import spark

    if not query.lstrip().lower().startswith(("select", "with")):
        raise click.ClickException("only a query (select or with) is run on Spark")
    session = spark.session(ctx.settings)
    spark.refresh_landing(session, ctx.settings)
    try:
        frame = session.sql(query)
        return frame.columns, frame.collect()
    except Exception as exc:  # pyspark's AnalysisException and friends
        raise click.ClickException(str(exc).strip().splitlines()[0]) from None


def _text(value: object) -> object:
    """One text for a time on either engine: Spark gives naive UTC times, PostgreSQL aware."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(sep=" ")
    return value
