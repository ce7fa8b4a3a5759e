{#- Before a build (require_landing_schema, on-run-start): Spark lists a table's files once
    per session and keeps the list; landing tables grow by files written outside it (the
    loader, the batch runs' records), so a long-running session reads them again before each
    build. Nothing to do elsewhere. -#}
{% macro refresh_sources() -%}
{{ return(adapter.dispatch('refresh_sources')()) }}
{%- endmacro %}

{% macro default__refresh_sources() -%}
select 1 as is_fresh
{%- endmacro %}

{% macro spark__refresh_sources() -%}
{%- if execute -%}
{%- for source in graph.sources.values() -%}
{%- do run_query('refresh table ' ~ source.schema ~ '.' ~ source.identifier) -%}
{%- endfor -%}
{%- endif -%}
select 1 as is_fresh
{%- endmacro %}
