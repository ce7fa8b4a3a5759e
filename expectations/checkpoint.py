"""The Great Expectations side: a context per database and scope, built once per process.

Importing great_expectations takes seconds, so it happens here, lazily, and the context with
its data source, assets, suites, validation definitions and checkpoint is cached: the
scheduler validates every batch. A run is the stock Checkpoint's run; each check is a stock
UnexpectedRowsExpectation whose result (COMPLETE format) carries the rows it found.

Data Docs: the checkpoint has no docs action; they are built (context.build_data_docs) when a
caller asks (`countonce check`, full runs), when the index is missing, and when the outcome of
the run (per check: passed or not, raised or not) differs from the outcome the docs on disk
show (recorded next to them in OUTCOME_FILE, so a build by another process counts). A run
whose outcome equals the rendered one, the steady state of the scheduler, skips the build
(about a second of rendering: see countonce/runtime.py). The docs then show the latest run
with that outcome; every run's results, offending rows included, are in dq.check_results.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from expectations.suites import Check, Suite, suites

log = logging.getLogger(__name__)

# The connection string reaches GX through its ${VAR} substitution: GX refuses a literal
# string whose host is a unix-socket directory, which is how the embedded server listens.
URL_VARIABLE = "COUNTONCE_GX_CONNECTION_STRING"
MAX_OFFENDING_ROWS = 20
# The outcome the Data Docs in a folder show, written with them.
OUTCOME_FILE = ".countonce-outcome.json"
RESULT_FORMAT = {"result_format": "COMPLETE"}

_cache: dict[tuple[object, str, bool, Decimal], Checkpoint] = {}
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
    if params.get("application_name"):
        query["application_name"] = params["application_name"]
    url = URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=None if query.get("host") else params.get("host"),
        port=int(params["port"]) if params.get("port") else None,
        database=params.get("dbname"),
        query=query,
    )
    return url.render_as_string(hide_password=False)


class Checkpoint:
    """A GX context bound to one engine (a PostgreSQL database, or this process's Spark
    session), one scope (the run's, or all history) and one Data Docs folder.

    One stock Checkpoint per asset: a PostgreSQL asset is a query GX runs; a Spark asset is
    a dataframe, handed to its checkpoint as a batch parameter on every run (GX's Spark data
    source reads dataframes), so each asset's validations run on their own dataframe.
    """

    def __init__(
        self, data_docs_dir: Path, suite_list: tuple[Suite, ...], *, url: str = "", spark=None
    ) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
        )

        self.data_docs_dir = data_docs_dir
        self._spark = spark
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
        if spark is None:
            source = self.context.data_sources.add_postgres(
                "countonce", connection_string="${" + URL_VARIABLE + "}"
            )
        else:
            source = self.context.data_sources.add_spark("countonce", persist=False)
        definitions: dict[str, list] = {}
        batches: dict[str, Any] = {}
        self._queries: dict[str, str] = {}
        self._checks: dict[str, tuple[Suite, Check]] = {}
        for suite in suite_list:
            asset_name = suite.asset.name
            if asset_name not in batches:
                asset = (
                    source.add_query_asset(asset_name, query=suite.asset.query)
                    if spark is None
                    else source.add_dataframe_asset(asset_name)
                )
                batches[asset_name] = (
                    asset.add_batch_definition_whole_table("all")
                    if spark is None
                    else asset.add_batch_definition_whole_dataframe("all")
                )
                self._queries[asset_name] = suite.asset.query
            gx_suite = self.context.suites.add(gx.ExpectationSuite(name=suite.name))
            for check in suite.checks:
                gx_suite.add_expectation(
                    gx.expectations.UnexpectedRowsExpectation(
                        unexpected_rows_query=check.sql,
                        description=check.description,
                        severity=suite.severity,
                        meta={"check": check.name},
                    )
                )
                self._checks[check.name] = (suite, check)
            definitions.setdefault(asset_name, []).append(
                self.context.validation_definitions.add(
                    gx.ValidationDefinition(
                        name=suite.name, data=batches[asset_name], suite=gx_suite
                    )
                )
            )
        self.checkpoints = {
            asset_name: self.context.checkpoints.add(
                gx.Checkpoint(
                    name=asset_name,
                    validation_definitions=validations,
                    result_format=RESULT_FORMAT,
                )
            )
            for asset_name, validations in definitions.items()
        }

    def _batch_parameters(self, asset_name: str) -> dict[str, Any] | None:
        if self._spark is None:
            return None
        return {"dataframe": self._spark.sql(self._queries[asset_name])}

    @property
    def data_docs_index(self) -> Path:
        return self.data_docs_dir / "index.html"

    @property
    def outcome_file(self) -> Path:
        return self.data_docs_dir / OUTCOME_FILE

    def run(self, run_id: str, *, data_docs: bool | None = None) -> list[RawResult]:
        """Validate every suite; build the Data Docs if `data_docs`, or if None when the
        outcome differs from the one they show (see the module's docstring)."""
        from great_expectations.core.run_identifier import RunIdentifier

        # Only this run's results stay in the store: the docs index shows the latest run, and
        # a long-running scheduler does not keep every run's results in memory.
        store = self.context.validation_results_store
        for key in store.list_keys():
            store.remove_key(key)
        results = []
        for asset_name, checkpoint in self.checkpoints.items():
            outcome = checkpoint.run(
                batch_parameters=self._batch_parameters(asset_name),
                run_id=RunIdentifier(run_name=run_id),
            )
            for suite_result in outcome.run_results.values():
                for result in suite_result.results:
                    suite, check = self._checks[result.expectation_config.meta["check"]]
                    results.append(_raw_result(suite, check, result))
        signature = _signature(results)
        if data_docs or (data_docs is None and signature != self._rendered_signature()):
            self.context.build_data_docs()
            self.outcome_file.write_text(json.dumps(signature))
        return results

    def _rendered_signature(self) -> list[list[Any]] | None:
        if not self.data_docs_index.is_file():
            return None
        try:
            return json.loads(self.outcome_file.read_text())
        except (OSError, ValueError):
            return None


def _signature(results: list[RawResult]) -> list[list[Any]]:
    """The outcome of a run as the Data Docs show it: per check, passed or not, and whether
    it raised. Observed values are left out: a warning that holds with a count that changes
    from batch to batch would otherwise rebuild the docs on every run."""
    return [[r.check.name, r.success, r.error is not None] for r in results]


def _raw_result(suite: Suite, check: Check, result) -> RawResult:
    body = result.result or {}
    error = None
    info = result.exception_info or {}
    # One entry, or one per metric the expectation needed.
    raised = [info] if "raised_exception" in info else list(info.values())
    for entry in raised:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            error = str(entry.get("exception_message") or "the check raised an exception")
            break
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


def checkpoint_for(
    params: dict[str, str],
    data_docs_dir: Path,
    *,
    full: bool,
    max_reject_rate: Decimal,
    gaps_critical: bool,
    spark=None,
) -> Checkpoint:
    """The cached checkpoint of this database (or Spark session), scope and Data Docs folder,
    built on first use."""
    url = sqlalchemy_url(params) if spark is None else ""
    key = (url or id(spark), str(data_docs_dir), full, max_reject_rate, gaps_critical)
    with _cache_lock:
        checkpoint = _cache.get(key)
        if checkpoint is None:
            data_docs_dir.mkdir(parents=True, exist_ok=True)
            checkpoint = Checkpoint(
                data_docs_dir,
                suites(
                    full=full,
                    max_reject_rate=max_reject_rate,
                    gaps_critical=gaps_critical,
                    on_spark=spark is not None,
                ),
                url=url,
                spark=spark,
            )
            _cache[key] = checkpoint
        return checkpoint
