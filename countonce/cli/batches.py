"""`countonce run`, `countonce schedule` and `countonce status`: batch runs."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from countonce import db, runtime
from countonce.cli.context import Context, database_option, pass_ctx

log = logging.getLogger(__name__)

EXIT_CODES = {
    "succeeded": 0,
    "interrupted": 0,
    "checks_failed": 1,
    "failed": 2,
    "skipped": 4,
}
EXIT_DATABASE_UNREACHABLE = 3
SCHEDULER_STOP_SECONDS = 8.0


def exit_code(record) -> int:
    if record.status == "failed" and record.retryable:
        return EXIT_DATABASE_UNREACHABLE
    return EXIT_CODES.get(record.status, 2)


@click.command("run")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON on stdout.")
@pass_ctx
def run_command(ctx: Context, as_json: bool) -> None:
    """Run one batch: load the inbox, dbt build, checks; recorded in ops.pipeline_runs.

    \b
    Exit status:
      0  succeeded, or stopped by SIGTERM/SIGINT (recorded as interrupted)
      1  a critical check failed (checks_failed)
      2  the run failed (loader or dbt error; checks are then skipped)
      3  the database could not be reached
      4  skipped: another run holds the pipeline lock
    """
    from countonce import logs
    from scheduler.pipeline import run_batch
    from scheduler.signals import StopOnSignal
    from scheduler.stages import STAGES, prepare_checks, prepared_checks_stage

    runtime.one_batch()
    stopper = StopOnSignal().install()
    root = logging.getLogger()
    if ctx.settings.on_spark:
        # The checks read the session dbt built in; its metastore admits this process only.
        record = run_batch(ctx.settings, ctx.params, trigger="manual", stop=stopper.event)
    else:
        with runtime.Prepared(
            prepare_checks, ctx.settings, ctx.params, logs.is_json(root), root.level
        ) as prepared:
            stages = [*STAGES[:-1], prepared_checks_stage(prepared)]
            record = run_batch(
                ctx.settings, ctx.params, trigger="manual", stop=stopper.event, stages=stages
            )
    if as_json:
        click.echo(json.dumps(record.as_dict(), indent=2))
    else:
        click.echo(_summary(record))
    sys.exit(exit_code(record))


@click.command("schedule")
@click.option(
    "--every",
    type=click.IntRange(min=1),
    help="Seconds between batches (default: COUNTONCE_SCHEDULE_CRON, "
    "else COUNTONCE_SCHEDULE_EVERY, else 300).",
)
@click.option(
    "--misfire-grace",
    type=click.IntRange(min=1),
    help="Seconds a missed batch may still start late (default: one interval; 300 for cron).",
)
@pass_ctx
def schedule_command(ctx: Context, every: int | None, misfire_grace: int | None) -> None:
    """Run batches on a schedule, one at a time, until SIGTERM/SIGINT.

    The first batch starts at once. A second scheduler (or a manual `countonce run`) on the
    same database skips while a batch is running, and records the skip.
    """
    from scheduler.loop import BatchScheduler, StopScheduler, make_trigger
    from scheduler.signals import StopOnSignal
    from scheduler.stages import warm_up

    settings = ctx.settings
    try:
        trigger, described = make_trigger(
            every, settings.schedule_cron, settings.schedule_every_seconds
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if misfire_grace is None:
        seconds = getattr(trigger, "interval", None)
        misfire_grace = int(seconds.total_seconds()) if seconds else 300

    stopper = StopOnSignal().install()
    stopper.interrupt_with = StopScheduler
    warm_up()
    loop = BatchScheduler(
        settings, ctx.params, trigger, misfire_grace_seconds=misfire_grace, stop=stopper.event
    )
    log.info(
        f"scheduler started: {described}",
        extra={"schedule": described, "misfire_grace_seconds": misfire_grace, "pid": os.getpid()},
    )
    loop.run_forever()
    stopper.interrupt_with = None
    finished = loop.wait_idle(SCHEDULER_STOP_SECONDS)
    log.info("scheduler stopped", extra={"run_wound_down": finished})
    if not finished:
        log.warning("exiting while a stopped stage unwinds; the server rolls back its work")
    sys.exit(0)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Runs to show."
)
@database_option
@pass_ctx
def status_command(ctx: Context, as_json: bool, limit: int, dsn: str | None) -> None:
    """Show recent batch runs (ops.pipeline_runs) and the latest check status."""
    from scheduler.status import collect, jsonable, render

    ctx.postgres_only("status", 'on Spark: countonce sql "select * from ops.pipeline_runs"')
    ctx.use_database(dsn)
    with db.connect(ctx.params, autocommit=True) as conn:
        found = collect(conn, limit)
    if as_json:
        click.echo(json.dumps(jsonable(found), indent=2))
    else:
        click.echo(render(found))


def _summary(record) -> str:
    head = f"run {record.run_id[:8]} {record.status}"
    if record.finished_at is not None:
        head += f" in {(record.finished_at - record.started_at).total_seconds():.1f}s"
    figures = [
        f"{name.replace('_', ' ')} {getattr(record, name)}"
        for name in ("rows_loaded", "duplicates_absorbed", "conflicts", "rejects", "checks_failed")
        if getattr(record, name) is not None
    ]
    line = head + (": " + ", ".join(figures) if figures else "")
    return line + (f"\n{record.error}" if record.error else "")
