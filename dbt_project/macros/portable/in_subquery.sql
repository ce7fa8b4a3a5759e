{#- `expression in (subquery)` for a small, uncorrelated subquery. On PostgreSQL the list is
    computed once, before the scan, so the planner can probe an index with it instead of
    hashing (or validating) the whole table first. -#}
{% macro in_subquery(expression, subquery) -%}
{{ return(adapter.dispatch('in_subquery')(expression, subquery)) }}
{%- endmacro %}

{% macro default__in_subquery(expression, subquery) -%}
{{ expression }} in ({{ subquery }})
{%- endmacro %}

{% macro postgres__in_subquery(expression, subquery) -%}
{{ expression }} = any(array({{ subquery }}))
{%- endmacro %}
