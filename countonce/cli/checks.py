"""`countonce check`: the Great Expectations checks."""

from __future__ import annotations

import json
import sys

import click

from countonce.cli.context import Context, database_option, pass_ctx


@click.command("check")
@click.option("--full", is_flag=True, help="Check all history, not only the current run's scope.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option("--run-id", default=None, help="Name this check run (default: generated).")
@database_option
@pass_ctx
def check_command(
    ctx: Context, full: bool, as_json: bool, run_id: str | None, dsn: str | None
) -> None:
    """Run the data-quality checks; exit 1 when a critical check fails.

    They cover the current run's scope (the batches the last build worked on, not yet
    recorded as processed), or all history with --full.
    """
    from expectations.checks import ChecksUnavailable, run_checks, to_json

    ctx.use_database(dsn)
    # A user asking for a check sees its run in the Data Docs, whatever the outcome.
    try:
        report = run_checks(ctx.settings, ctx.params, full=full, run_id=run_id, data_docs=True)
    except ChecksUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), default=to_json))
    else:
        _print_report(report)
    if not report.success:
        sys.exit(1)


def _print_report(report) -> None:
    scope = "all history" if report.full else "the current run's scope"
    click.echo(
        f"check run {report.run_id}: {report.scope_minutes} minutes, "
        f"{report.scope_batches} load batches ({scope}), {report.seconds:.2f} s"
    )
    for result in report.results:
        mark = "ok  " if result.success else ("FAIL" if result.severity == "critical" else "WARN")
        line = f"  {mark} {result.severity:<8} {result.expectation}"
        if not result.success:
            line += f"  (observed: {json.dumps(result.observed_value, default=str)})"
        click.echo(line)
        if not result.success and result.offending_rows:
            click.echo(f"         e.g. {json.dumps(result.offending_rows[0], default=str)}")
    verdict = "PASSED" if report.success else f"FAILED ({report.critical_failed} critical)"
    click.echo(f"{verdict}; {report.warnings} warning(s)")
    click.echo(f"Data Docs: {report.data_docs_index}")
