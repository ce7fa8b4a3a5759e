"""An unexpected-rows expectation answered by one query instead of two.

Great Expectations' UnexpectedRowsExpectation computes two metrics, the rows (up to 200) and
their count, and so runs every check's SQL twice. ExpectNoUnexpectedRows is the same
expectation (same query, same `{batch}` substitution, same result shape) whose single metric
returns the first rows and the count of all of them from one statement. Importing this
module registers both with Great Expectations, so it is imported with it (checkpoint.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metric_provider import QueryMetricProvider

# Rows kept as the example of what a failing check found (dq.check_results.offending_rows).
MAX_UNEXPECTED_ROWS = 20
COUNTED_SAMPLE = "countonce_unexpected_rows.counted_sample"
_COUNT_COLUMN = "countonce_unexpected_row_count"


class UnexpectedRowsCountedSample(QueryMetricProvider):
    """{"count": all rows of the query, "rows": the first MAX_UNEXPECTED_ROWS of them}."""

    metric_name = COUNTED_SAMPLE
    value_keys = ("unexpected_rows_query",)
    query_param_name: ClassVar[str] = "unexpected_rows_query"

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict[str, Any],
        runtime_configuration: dict,
    ) -> dict[str, Any]:
        batch_selectable, _, _ = execution_engine.get_compute_domain(
            metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
        )
        query = cls._get_query_from_metric_value_kwargs(metric_value_kwargs)
        substituted = cls._get_substituted_batch_subquery_from_query_and_batch_selectable(
            query=query, batch_selectable=batch_selectable, execution_engine=execution_engine
        )
        # The window counts every row before the limit applies; with no rows there is no
        # row to carry the count, which is then 0. The query's own order is kept.
        statement = (
            f"select count(*) over () as {_COUNT_COLUMN}, unexpected.*"
            f" from ({substituted}) as unexpected limit {MAX_UNEXPECTED_ROWS}"
        )
        rows = [
            dict(row._asdict())
            for row in execution_engine.execute_query(sa.text(statement)).fetchall()
        ]
        count = int(rows[0][_COUNT_COLUMN]) if rows else 0
        for row in rows:
            del row[_COUNT_COLUMN]
        return {"count": count, "rows": rows}


class ExpectNoUnexpectedRows(UnexpectedRowsExpectation):
    """UnexpectedRowsExpectation whose query runs once: success when it returns no row."""

    metric_dependencies: ClassVar[tuple[str, ...]] = (COUNTED_SAMPLE,)

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine=None,
    ) -> dict[str, Any]:
        found = metrics[COUNTED_SAMPLE]
        return {
            "success": found["count"] == 0,
            "result": {
                "observed_value": found["count"],
                "details": {"unexpected_rows": found["rows"]},
            },
        }
