"""`adapter` for lint: a dispatched macro renders as a plain SQL stand-in; every relation
exists (so models render their incremental shape)."""

from __future__ import annotations

from collections.abc import Callable


def dispatch(macro_name: str, macro_namespace: str | None = None) -> Callable[..., str]:
    def render(*args: object, **kwargs: object) -> str:
        if macro_name.startswith("type_"):
            return "numeric"
        if macro_name == "overwrites_partitions":
            return False  # the PostgreSQL shape: models written by key
        if macro_name == "in_subquery":
            # the portable shape, so the linter sees the CTEs the subquery reads
            expression, subquery = args
            return f"{expression} in ({subquery})"
        return f"{macro_name}()"

    return render


def get_relation(database: object, schema: object, identifier: object) -> str:
    return f"{schema}.{identifier}"
