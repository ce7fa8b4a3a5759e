"""The stages of a batch: load the inbox, build the dbt models, run the checks.

Each stage is a plain function of a StageContext returning the run-ledger fields it measured.
The pipeline runs each in a worker thread so a signal can stop the run between and during
stages; `cancel_queries` is how a running stage is stopped from outside.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from countonce import db
from countonce.settings import Settings
from scheduler import collector

log = logging.getLogger(__name__)


# dbt's own progress lines would interleave with the pipeline's structured log on stdout;
# the stage's log line and DbtFailed (naming the failing nodes) say what happened. Nothing
# reads dbt's JSON artifacts, whose writing costs a cold run about 0.4 s. dbt's log file
# keeps its info lines (each node's start and result, errors): at debug level it also takes
# every statement's SQL, written by both threads through one locked handler, about 0.1-0.2 s
# of a warm build. An analyst's `dbt build` or `countonce dbt` writes it all.
DBT_BUILD_ARGS = ["--quiet", "--no-use-colors", "--no-write-json", "--log-level-file", "info"]
# Without --no-populate-cache dbt lists every relation of the project's schemas, and their
# view dependencies, before the first node (0.1 s); with it, a schema is listed when a node
# first needs it. Only where no view is rebuilt: a view's materialization renames relations
# in dbt's cache, and a listing of the same schema by the other thread in between leaves the
# cache inconsistent ("new key ... already in cache"), which fails the build.
PER_BATCH_ARGS = ["--selector", "per_batch", "--no-populate-cache"]


@dataclass(frozen=True)
class StageContext:
    settings: Settings
    params: dict[str, str]  # tagged with the run's application_name, see cancel_queries
    run_id: str


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[StageContext], dict[str, object]]
    # Called once on a stop request, before the stage's queries are cancelled.
    stop: Callable[[], None] | None = None


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
    from countonce import dbt
    from scheduler.metrics import dedup_metrics

    manifest = PARSED_PROJECT.manifest(ctx.settings, ctx.params)
    selection = PER_BATCH_ARGS if PARSED_PROJECT.views_current else ["--selector", "pipeline"]
    PARSED_PROJECT.views_current = False  # until this build succeeds
    dbt.build(ctx.settings, ctx.params, [*DBT_BUILD_ARGS, *selection], manifest)
    PARSED_PROJECT.views_current = manifest is not None
    # dbt keeps the id of its latest invocation in a global; the pipeline lock makes that ours.
    from dbt_common.invocation import get_invocation_id

    invocation_id = get_invocation_id()
    with db.connect(ctx.params, autocommit=True) as conn:
        measured = dedup_metrics(conn, invocation_id)
    return {"dbt_invocation_id": invocation_id, **measured}


class ParsedProject:
    """The dbt manifest, parsed once and reused while the project's files stay the same.

    Off until a long-running process turns it on (warm_up): for a single run, parsing
    separately would only add an invocation. An edited model changes the fingerprint, so
    the next run parses again and an analyst's change is never ignored.

    views_current: a build of this manifest succeeded, so the views and the claims ledger
    it defines exist as written and the next build may skip them (selector per_batch). A
    new manifest or a failed build turns it off.
    """

    def __init__(self) -> None:
        self.enabled = False
        self.views_current = False
        self._key: tuple | None = None
        self._manifest: object | None = None

    def manifest(self, settings: Settings, params: dict[str, str]) -> object | None:
        if not self.enabled:
            return None
        from countonce import dbt

        key = (_fingerprint(settings.dbt_project_dir), tuple(dbt.dbt_vars(settings).items()))
        if key != self._key:
            outcome = dbt.invoke(settings, params, ["parse", *DBT_BUILD_ARGS])
            if not outcome.success:
                return None  # the build parses again and reports the error
            self._key, self._manifest = key, outcome.result.result
            self.views_current = False
            collector.keep_long_lived()
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
    return check_figures(report.success, report.critical_failed, report.warnings)


def check_figures(success: bool, critical_failed: int, warnings: int) -> dict[str, object]:
    failed = critical_failed if success else max(critical_failed, 1)
    return {"checks_failed": failed, "checks_warned": warnings}


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

    collector.keep_long_lived()
    PARSED_PROJECT.enabled = True


def cancel_queries(conn: psycopg.Connection, application_name: str) -> int:
    """Cancel the statements this run has in flight; returns how many backends were signalled.

    The loader and checks connect with the run's application_name; dbt-postgres names its
    connections itself, so its backends are found through dbt's adapter in this process.
    A cancelled statement rolls back its transaction, so a model is either rebuilt or untouched.
    """
    pids = _dbt_backend_pids()
    row = conn.execute(
        """
        select count(pg_cancel_backend(pid))
        from pg_stat_activity
        where pid <> pg_backend_pid()
          and datname = current_database()
          and state = 'active'
          and (application_name = %s or pid = any(%s))
        """,
        (application_name, pids),
    ).fetchone()
    return int(row[0])


def _dbt_backend_pids() -> list[int]:
    # Not imported (or still being imported): dbt has no connection open yet.
    container = getattr(sys.modules.get("dbt.adapters.factory"), "FACTORY", None)
    if container is None:
        return []
    pids = []
    for adapter in list(container.adapters.values()):
        manager = adapter.connections
        with manager.lock:
            connections = list(manager.thread_connections.values())
        for connection in connections:
            if str(connection.state) != "open" or connection.handle is None:
                continue
            try:
                pids.append(int(connection.handle.get_backend_pid()))
            except Exception:  # a handle closing under us has nothing left to cancel
                continue
    return pids
