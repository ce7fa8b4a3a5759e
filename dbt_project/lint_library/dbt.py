"""The cross-database macros of dbt's `dbt` namespace that the models call, for lint."""

from __future__ import annotations


def current_timestamp() -> str:
    return "now()"


def dateadd(datepart: str, interval: object, from_date_or_timestamp: str) -> str:
    return f"({from_date_or_timestamp} + interval '1 {datepart}')"


def type_string() -> str:
    return "text"


def type_bigint() -> str:
    return "bigint"


def type_timestamp() -> str:
    return "timestamp"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"extract(epoch from ({second_date} - {first_date}))"
