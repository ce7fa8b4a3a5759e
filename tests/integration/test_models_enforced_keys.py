"""The key tests that the per-batch build leaves out (tag key_enforced_by_database) are those
PostgreSQL enforces: a unique index over exactly the key's columns, each declared not null.
A staging view is checked through the landing table it selects from, row for row."""

from __future__ import annotations

from test_models_support import dbt, event, land

TAG = "key_enforced_by_database"
# A staging view is one row per row of its landing table.
VIEW_OVER = {
    "stg_shopflow__order_events": ("raw", "order_events"),
    "stg_shopflow__load_batches": ("raw", "load_batches"),
}


def enforced_keys(manifest) -> list[tuple[str, str, tuple[str, ...]]]:
    """(schema, table, key columns) of every tagged key test."""
    keys = []
    for node in manifest.nodes.values():
        if node.resource_type != "test" or TAG not in node.tags:
            continue
        kwargs = node.test_metadata.kwargs
        columns = tuple(kwargs.get("columns") or [kwargs["column_name"]])
        (tested,) = node.depends_on.nodes
        target = manifest.nodes.get(tested) or manifest.sources[tested]
        if target.resource_type == "source":
            keys.append((target.schema, target.identifier, columns))
        elif target.config.materialized == "view":
            keys.append((*VIEW_OVER[target.name], columns))
        else:
            keys.append((target.schema, target.alias, columns))
    return keys


def test_every_key_test_left_out_per_batch_is_enforced_by_the_database(
    settings, database, migrated
):
    land(migrated, [event("e1")])
    dbt(settings, database)
    manifest = dbt(settings, database, "parse").result.result
    keys = enforced_keys(manifest)
    assert {table for _, table, _ in keys} >= {
        "order_events",
        "load_batches",
        "int_load_batches_processed",
        "fact_revenue_1m",
    }
    for schema, table, columns in keys:
        unique_indexes = migrated.execute(
            "select array(select a.attname from unnest(i.indkey) as k(attnum)"
            "   join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum)"
            " from pg_index as i where i.indrelid = format('%%I.%%I', %s::text, %s::text)::regclass"
            " and i.indisunique and i.indpred is null",
            (schema, table),
        ).fetchall()
        assert sorted(columns) in [sorted(cols) for (cols,) in unique_indexes], (table, columns)
        nullable = migrated.execute(
            "select attname from pg_attribute"
            " where attrelid = format('%%I.%%I', %s::text, %s::text)::regclass"
            " and attname = any(%s) and not attnotnull",
            (schema, table, list(columns)),
        ).fetchall()
        assert nullable == [], (table, nullable)
