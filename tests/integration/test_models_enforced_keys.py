"""The tests that the per-batch build leaves out (tag enforced_by_database) are those
PostgreSQL enforces: for a key, a unique index over exactly its columns, each declared not
null; for a not_null test, the column declared not null. A staging view is checked through
the landing table it selects from, row for row."""

from __future__ import annotations

from test_models_support import dbt, event, land

TAG = "enforced_by_database"
# A staging view is one row per row of its landing table.
VIEW_OVER = {
    "stg_shopflow__order_events": ("raw", "order_events"),
    "stg_shopflow__load_batches": ("raw", "load_batches"),
}


def enforced_tests(manifest) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(test name, schema, table, columns) of every tagged test."""
    found = []
    for node in manifest.nodes.values():
        if node.resource_type != "test" or TAG not in node.tags:
            continue
        kwargs = node.test_metadata.kwargs
        columns = tuple(kwargs.get("columns") or [kwargs["column_name"]])
        (tested,) = node.depends_on.nodes
        target = manifest.nodes.get(tested) or manifest.sources[tested]
        if target.resource_type == "source":
            table = (target.schema, target.identifier)
        elif target.config.materialized == "view":
            table = VIEW_OVER[target.name]
        else:
            table = (target.schema, target.alias)
        found.append((node.test_metadata.name, *table, columns))
    return found


def test_every_test_left_out_per_batch_is_enforced_by_the_database(settings, database, migrated):
    land(migrated, [event("e1")])
    dbt(settings, database)
    manifest = dbt(settings, database, "parse").result.result
    tests = enforced_tests(manifest)
    assert {(name, table) for name, _, table, _ in tests} >= {
        ("primary_key", "order_events"),
        ("primary_key", "load_batches"),
        ("primary_key", "int_load_batches_processed"),
        ("primary_key", "int_order_events_deduplicated"),
        ("primary_key", "int_order_event_duplicates"),
        ("primary_key", "int_order_events_rejected"),
        ("not_null", "int_order_events_rejected"),
        ("primary_key", "fact_revenue_1m"),
        ("primary_key", "recon_revenue_1m"),
        ("primary_key", "recon_conservation_by_batch"),
        ("primary_key", "recon_dedup_run_metrics"),
    }
    for name, schema, table, columns in tests:
        assert name in ("primary_key", "not_null"), name
        if name == "primary_key":
            unique_indexes = migrated.execute(
                "select array(select a.attname from unnest(i.indkey) as k(attnum)"
                "   join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum)"
                " from pg_index as i"
                " where i.indrelid = format('%%I.%%I', %s::text, %s::text)::regclass"
                " and i.indisunique and i.indpred is null",
                (schema, table),
            ).fetchall()
            assert sorted(columns) in [sorted(c) for (c,) in unique_indexes], (table, columns)
        nullable = migrated.execute(
            "select attname from pg_attribute"
            " where attrelid = format('%%I.%%I', %s::text, %s::text)::regclass"
            " and attname = any(%s) and not attnotnull",
            (schema, table, list(columns)),
        ).fetchall()
        assert nullable == [], (table, nullable)
