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


def dbt_vars(settings: Settings) -> dict[str, object]:
    return {
        "lookback_minutes": settings.lookback_minutes,
        "rescan_minutes": settings.rescan_minutes,
        "future_margin_minutes": settings.future_margin_minutes,
    }


def target_dir(settings: Settings) -> Path:
    """Where dbt writes its artifacts (manifest, run results, docs)."""
    return settings.home / "dbt" / "target"


def invoke(
    settings: Settings,
    params: dict[str, str],
    args: list[str],
    manifest: object | None = None,
    *,
    extra_vars: dict[str, object] | None = None,
) -> DbtOutcome:
    """Run one dbt command (e.g. ["build"]) in this process; never raises on dbt failure.

    manifest: a Manifest parsed earlier in this process (`parse`'s result), to skip parsing.
    extra_vars: added to the project vars, e.g. {"recon_full": True}.
    """
    from dbt.cli.main import dbtRunner

    export_libpq(params)
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
        "--vars",
        json.dumps({**dbt_vars(settings), **(extra_vars or {})}),
    ]
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
) -> DbtOutcome:
    outcome = invoke(settings, params, ["build", *(extra or [])], manifest, extra_vars=extra_vars)
    if not outcome.success:
        raise DbtFailed("dbt build failed: " + "; ".join(outcome.failures or ["see dbt logs"]))
    return outcome
