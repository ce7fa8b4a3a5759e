"""dbt, called in-process through dbtRunner against the configured database."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from countonce.settings import Settings, export_libpq

log = logging.getLogger(__name__)


class DbtFailed(RuntimeError):
    """dbt reported failure; the message names the failing nodes."""


@dataclass
class DbtOutcome:
    success: bool
    result: object
    failures: list[str]


def target_dir(settings: Settings) -> Path:
    """Where dbt writes its artifacts (manifest, run results, docs)."""
    return settings.home / "dbt" / ("target" if not settings.on_spark else "target-spark")


def invoke(
    settings: Settings,
    params: dict[str, str],
    args: list[str],
    manifest: object | None = None,
    *,
    extra_vars: dict[str, object] | None = None,
    application_name: str | None = None,
) -> DbtOutcome:
    """Run one dbt command (e.g. ["build"]) in this process; never raises on dbt failure.

    manifest: a Manifest parsed earlier in this process (`parse`'s result), to skip parsing.
    extra_vars: dbt vars for this invocation, e.g. {"bench_naive": True}.
    application_name: what dbt's connections call themselves (PGAPPNAME, which the profile
    reads), so that a batch run can find and cancel its own statements.
    """
    from dbt.cli.main import dbtRunner

    export_libpq(params, application_name)
    if settings.on_spark:
        from countonce import spark

        spark.session(settings)  # the session dbt's session method then uses
    project = str(settings.dbt_project_dir)
    full = [
        *args,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target-path",
        str(target_dir(settings)),
        "--log-path",
        str(settings.home / "dbt" / "logs"),
    ]
    if extra_vars:
        full += ["--vars", json.dumps(extra_vars)]
    if settings.on_spark and args and args[0] not in {"deps", "clean", "debug", "init"}:
        full += ["--target", "spark"]
    if args and args[0] in {"deps", "clean", "debug", "init"}:
        full = full[: len(args) + 4]
    result = dbtRunner(manifest=manifest).invoke(full)
    failures = _failures(result)
    if result.exception is not None:
        failures.append(f"{type(result.exception).__name__}: {result.exception}")
    return DbtOutcome(success=bool(result.success), result=result, failures=failures)


def _failures(result) -> list[str]:
    rows = getattr(result.result, "results", None) or []
    out = []
    for row in rows:
        status = str(getattr(row, "status", ""))
        if status.lower().endswith(("error", "fail")):
            out.append(
                f"{row.node.unique_id}: {status} {getattr(row, 'message', '') or ''}".strip()
            )
    return out


def build(
    settings: Settings,
    params: dict[str, str],
    extra: list[str] | None = None,
    manifest: object | None = None,
    *,
    extra_vars: dict[str, object] | None = None,
    application_name: str | None = None,
) -> DbtOutcome:
    outcome = invoke(
        settings,
        params,
        ["build", *(extra or [])],
        manifest,
        extra_vars=extra_vars,
        application_name=application_name,
    )
    if not outcome.success:
        raise DbtFailed("dbt build failed: " + "; ".join(outcome.failures or ["see dbt logs"]))
    return outcome
