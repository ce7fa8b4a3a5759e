"""Whether a batch run may build only the per-batch models (selector per_batch) instead of
every model (selector batch): the project, the environment dbt reads and the database are
those of a full build that succeeded, and that build's views are all still there (an
analyst's full refresh of a model drops the views that read it). Recorded next to dbt's
target directory after each successful full build.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from countonce import db, relations
from countonce.settings import Settings

log = logging.getLogger(__name__)

_NOT_PROJECT_FILES = {"target", "logs", "dbt_packages", ".git"}


def _marker(settings: Settings) -> Path:
    return settings.home / "dbt" / "full_build.json"


def _database(settings: Settings, params: dict[str, str]) -> str:
    if settings.on_spark:
        return f"spark:{settings.spark_dir}"
    return f"{params.get('host')}:{params.get('port')}/{params.get('dbname')}"


def fingerprint(settings: Settings) -> str:
    """A hash of the dbt project's files and of the environment variables it reads."""
    digest = hashlib.sha256()
    project = settings.dbt_project_dir
    for path in sorted(project.rglob("*")):
        if path.is_dir() or _NOT_PROJECT_FILES.intersection(path.relative_to(project).parts):
            continue
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps(sorted(settings.dbt_environment.items())).encode())
    return digest.hexdigest()


def per_batch_is_enough(settings: Settings, params: dict[str, str]) -> bool:
    try:
        recorded = json.loads(_marker(settings).read_text())
    except (OSError, ValueError):
        return False
    if recorded.get("fingerprint") != fingerprint(settings) or recorded.get(
        "database"
    ) != _database(settings, params):
        return False
    views = [relations.Relation(*view) for view in recorded["views"]]
    if settings.on_spark:
        from countonce import spark

        catalog = spark.session(settings).catalog
        return all(catalog.tableExists(str(view)) for view in views)
    with db.connect(params, autocommit=True) as conn:
        return all(relations.exists(conn, view) for view in views)


def record(settings: Settings, params: dict[str, str], outcome) -> None:
    """After a successful full build (`outcome`: its dbt result), what the next runs compare."""
    views = sorted(
        {
            (row.node.schema, row.node.alias)
            for row in outcome.result.result.results
            if row.node.resource_type == "model" and row.node.config.materialized == "view"
        }
    )
    marker = _marker(settings)
    marker.parent.mkdir(parents=True, exist_ok=True)
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(
        json.dumps(
            {
                "fingerprint": fingerprint(settings),
                "database": _database(settings, params),
                "views": views,
            }
        )
    )
    partial.replace(marker)


def forget(settings: Settings) -> None:
    """A build failed: the next one builds every model again."""
    _marker(settings).unlink(missing_ok=True)
