"""The Great Expectations side: an in-memory context per database, built once per process.

Importing great_expectations takes seconds, so it happens here, lazily, and the context with
its data source, suites and checkpoint is cached: the scheduler validates every batch.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expectations.suites import SUITES, Check, Suite

log = logging.getLogger(__name__)

# The connection string reaches GX through its ${VAR} substitution: GX refuses a literal
# string whose host is a unix-socket directory, which is how the embedded server listens.
URL_VARIABLE = "COUNTONCE_GX_CONNECTION_STRING"
MAX_OFFENDING_ROWS = 20

_cache: dict[tuple[str, str], Checkpoint] = {}
_cache_lock = threading.Lock()


@dataclass
class RawResult:
    suite: Suite
    check: Check
    success: bool
    observed_value: Any
    offending_rows: list[dict[str, Any]]
    error: str | None


def sqlalchemy_url(params: dict[str, str]) -> str:
    from sqlalchemy.engine import URL

    query = {"host": params["host"]} if params.get("host", "").startswith("/") else {}
    url = URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=None if query else params.get("host"),
        port=int(params["port"]) if params.get("port") else None,
        database=params.get("dbname"),
        query=query,
    )
    return url.render_as_string(hide_password=False)


class Checkpoint:
    """A GX context bound to one database and one Data Docs folder."""

    def __init__(self, url: str, data_docs_dir: Path) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
        )

        self.data_docs_dir = data_docs_dir
        self._docs_built = False
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars={"globally": sys.stderr.isatty()},
            data_docs_sites={
                "local_site": {
                    "class_name": "SiteBuilder",
                    "show_how_to_buttons": False,
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(data_docs_dir),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                }
            },
        )
        self.context = gx.get_context(
            project_config=config, mode="ephemeral", runtime_environment={URL_VARIABLE: url}
        )
        source = self.context.data_sources.add_postgres(
            "countonce", connection_string="${" + URL_VARIABLE + "}"
        )
        batches: dict[str, Any] = {}
        definitions = []
        self._checks: dict[str, tuple[Suite, Check]] = {}
        for suite in SUITES:
            if suite.asset.name not in batches:
                asset = source.add_query_asset(suite.asset.name, query=suite.asset.query)
                batches[suite.asset.name] = asset.add_batch_definition_whole_table("all")
            batch = batches[suite.asset.name]
            gx_suite = self.context.suites.add(gx.ExpectationSuite(name=suite.name))
            for check in suite.checks:
                gx_suite.add_expectation(_expectation(gx, suite, check))
                self._checks[check.name] = (suite, check)
            definitions.append(
                self.context.validation_definitions.add(
                    gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
                )
            )
        self.checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name="countonce",
                validation_definitions=definitions,
                result_format={"result_format": "COMPLETE"},
            )
        )

    @property
    def data_docs_index(self) -> Path:
        return self.data_docs_dir / "index.html"

    def run(self, run_id: str) -> list[RawResult]:
        from great_expectations.core.run_identifier import RunIdentifier

        self._forget_validation_results()
        outcome = self.checkpoint.run(run_id=RunIdentifier(run_name=run_id))
        # One Data Docs build per run (not one per suite); the suite pages never change, so
        # after the first build only this run's validation pages and the index are rendered.
        self.context.build_data_docs(
            resource_identifiers=list(outcome.run_results) if self._docs_built else None
        )
        self._docs_built = True
        results = []
        for suite_result in outcome.run_results.values():
            for result in suite_result.results:
                name = result.expectation_config.meta["check"]
                suite, check = self._checks[name]
                results.append(_raw_result(suite, check, result))
        return results

    def _forget_validation_results(self) -> None:
        # Results live in dq; keeping every run's in memory too would grow a long-running
        # scheduler without bound. The index shows the latest run; older pages stay on disk.
        store = self.context.validation_results_store
        for key in store.list_keys():
            store.remove_key(key)


def _expectation(gx, suite: Suite, check: Check):
    common = {
        "description": check.description,
        "meta": {"check": check.name, "suite": suite.name, "severity": suite.severity},
    }
    if check.unique_columns:
        return gx.expectations.ExpectCompoundColumnsToBeUnique(
            column_list=list(check.unique_columns), **common
        )
    return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=check.sql, **common)


def _raw_result(suite: Suite, check: Check, result) -> RawResult:
    body = result.result or {}
    error = None
    info = result.exception_info or {}
    if info.get("raised_exception"):
        error = str(info.get("exception_message") or "the check raised an exception")
    if check.unique_columns:
        observed = body.get("unexpected_count")
        rows = body.get("partial_unexpected_list") or []
    else:
        observed = body.get("observed_value")
        rows = (body.get("details") or {}).get("unexpected_rows") or []
    if error is not None:
        observed = {"error": error}
    return RawResult(
        suite=suite,
        check=check,
        success=bool(result.success) and error is None,
        observed_value=observed,
        offending_rows=[dict(row) for row in rows[:MAX_OFFENDING_ROWS]],
        error=error,
    )


def checkpoint_for(params: dict[str, str], data_docs_dir: Path) -> Checkpoint:
    """The cached checkpoint of this database and Data Docs folder (built on first use)."""
    url = sqlalchemy_url(params)
    key = (url, str(data_docs_dir))
    with _cache_lock:
        checkpoint = _cache.get(key)
        if checkpoint is None:
            data_docs_dir.mkdir(parents=True, exist_ok=True)
            checkpoint = Checkpoint(url, data_docs_dir)
            _cache[key] = checkpoint
        return checkpoint
