"""The stages of a batch: load the inbox, build the dbt models, run the checks.

Each stage is a plain function of a StageContext returning the run-ledger fields it measured.
The pipeline runs each in a worker thread so a signal can stop the run between and during
stages; `cancel_queries` is how a running stage is stopped from outside.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from countonce import runtime
from countonce.settings import Settings

log = logging.getLogger(__name__)

# Every connection a run's stages open, dbt's included (through PGAPPNAME, which dbt's
# profile reads), carries this name; only the holder of the pipeline lock runs stages, so
# the backends of the database with this name are the running batch's own. A constant:
# dbt re-parses the whole project when a profile value changes.
RUN_APPLICATION_NAME = "countonce run"
# dbt's own progress lines would interleave with the pipeline's structured log on stdout;
# the stage's log line and DbtFailed (naming the failing nodes) say what happened. Nothing
# reads dbt's JSON artifacts. See countonce/runtime.py for the log level.
DBT_BUILD_ARGS = ["--quiet", "--no-use-colors", "--no-write-json", *runtime.DBT_LOG_ARGS]


@dataclass(frozen=True)
class StageContext:
    settings: Settings
    params: dict[str, str]  # carrying RUN_APPLICATION_NAME, see cancel_queries
    run_id: str


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[StageContext], dict[str, object]]


def load_inbox(ctx: StageContext) -> dict[str, object]:
    from ingest.loader import load

    ctx.settings.inbox.mkdir(parents=True, exist_ok=True)
    summary = load(ctx.settings, ctx.params, [str(ctx.settings.inbox)], progress=False)
    return {
        "lines_read": summary.lines_read,
        "rows_loaded": summary.landed,
        "rejects_at_load": summary.rejected,
    }


def build_models(ctx: StageContext) -> dict[str, object]:
    """dbt build: every model (selector batch) when the project, its environment or the
    database may have changed since the last full build, else the per-batch models
    (selector per_batch; scheduler/full_build.py)."""
    from dbt_common.invocation import get_invocation_id

    from countonce import dbt
    from scheduler import full_build
    from scheduler.scope import scope_metrics

    manifest = PARSED_PROJECT.manifest(ctx.settings, ctx.params)
    per_batch = full_build.per_batch_is_enough(ctx.settings, ctx.params)
    try:
        outcome = dbt.build(
            ctx.settings,
            ctx.params,
            [*DBT_BUILD_ARGS, "--selector", "per_batch" if per_batch else "batch"],
            manifest,
            application_name=RUN_APPLICATION_NAME,
        )
    except dbt.DbtFailed:
        full_build.forget(ctx.settings)
        raise
    if not per_batch:
        full_build.record(ctx.settings, ctx.params, outcome)
    # dbt keeps the id of its latest invocation; the pipeline lock makes that this run's.
    invocation_id = get_invocation_id()
    return {"dbt_invocation_id": invocation_id, **scope_metrics(ctx.settings, ctx.params)}


class ParsedProject:
    """The dbt manifest, parsed once and reused while the project's files stay the same.

    Off until a long-running process turns it on (warm_up): for a single run, parsing
    separately would only add an invocation. An edited model changes the fingerprint, so
    the next run parses again and an analyst's change is never ignored.
    """

    def __init__(self) -> None:
        self.enabled = False
        self._key: tuple | None = None
        self._manifest: object | None = None

    def manifest(self, settings: Settings, params: dict[str, str]) -> object | None:
        if not self.enabled:
            return None
        from countonce import dbt

        key = _fingerprint(settings.dbt_project_dir)
        if key != self._key:
            outcome = dbt.invoke(
                settings,
                params,
                ["parse", *DBT_BUILD_ARGS],
                application_name=RUN_APPLICATION_NAME,
            )
            if not outcome.success:
                return None  # the build parses again and reports the error
            self._key, self._manifest = key, outcome.result.result
            runtime.after_parse()
            log.info("dbt project parsed", extra={"project": str(settings.dbt_project_dir)})
        return self._manifest


PARSED_PROJECT = ParsedProject()
_NOT_PROJECT_FILES = {"target", "logs", "dbt_packages", ".git"}


def _fingerprint(project: Path) -> tuple:
    files = []
    for path in sorted(project.rglob("*")):
        if _NOT_PROJECT_FILES.intersection(path.relative_to(project).parts) or path.is_dir():
            continue
        stat = path.stat()
        files.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(files)


def run_checks(ctx: StageContext) -> dict[str, object]:
    from expectations.checks import run_checks as run_all_checks

    report = run_all_checks(ctx.settings, ctx.params, full=False, run_id=ctx.run_id)
    return {"checks_failed": report.critical_failed, "checks_warned": report.warnings}


def prepare_checks(settings: Settings, params: dict[str, str], log_json: bool, level: int) -> None:
    """Initializer of the process that runs a one-shot run's checks (countonce/runtime.py,
    Prepared): Great Expectations imported and its context built before they are asked for."""
    from countonce import logs
    from expectations.checkpoint import checkpoint_for

    runtime.one_batch()
    logs.configure(json_lines=log_json, level=level)
    try:
        checkpoint_for(
            params,
            settings.data_docs_dir,
            full=False,
            max_reject_rate=settings.dq_max_reject_rate,
            gaps_critical=settings.gaps_critical,
        )
    except Exception:  # e.g. the database is down now; the run's checks retry and report it
        log.debug("could not prepare the checks", exc_info=True)


def prepared_checks_stage(prepared: runtime.Prepared) -> Stage:
    """The checks stage, run in a prepared process."""
    return Stage("checks", lambda ctx: prepared.call(run_checks, ctx))


STAGES: tuple[Stage, ...] = (
    Stage("load", load_inbox),
    Stage("dbt", build_models),
    Stage("checks", run_checks),
)


def warm_up() -> None:
    """Prepare a long-running process: import dbt and Great Expectations once, reuse the
    parsed dbt manifest between runs."""
    import dbt.adapters.postgres  # noqa: F401
    import dbt.cli.main  # noqa: F401
    import great_expectations  # noqa: F401

    runtime.after_imports()
    PARSED_PROJECT.enabled = True


def cancel_queries(conn: psycopg.Connection) -> int:
    """Cancel the statements the running batch has in flight; returns how many backends were
    signalled. A cancelled statement rolls back its transaction, so a model is either
    rebuilt or untouched."""
    row = conn.execute(
        """
        select count(pg_cancel_backend(pid))
        from pg_stat_activity
        where pid <> pg_backend_pid()
          and datname = current_database()
          and state = 'active'
          and application_name = %s
        """,
        (RUN_APPLICATION_NAME,),
    ).fetchone()
    return int(row[0])
