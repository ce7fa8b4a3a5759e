{#- on-run-start: stop with what to do when the landing schema countonce creates is missing
    (a database where countonce has never run), rather than fail in the first model. -#}
{% macro require_landing_schema() -%}
{%- if execute -%}
{%- for source_name, table in [('shopflow', 'load_batches'), ('countonce', 'processed_batches')] -%}
{%- set node = graph.sources['source.countonce.' ~ source_name ~ '.' ~ table] -%}
{%- if load_relation(api.Relation.create(
    database=node.database, schema=node.schema, identifier=node.identifier
)) is none -%}
{%- do exceptions.raise_compiler_error(
    node.schema ~ '.' ~ node.identifier ~ ' does not exist in this database: countonce has '
    ~ 'not set it up yet. Run `countonce db migrate` (any countonce command does it too), '
    ~ 'then build again.'
) -%}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{{ refresh_sources() }}
{%- endmacro %}
