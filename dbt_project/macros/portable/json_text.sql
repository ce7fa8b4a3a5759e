{#- The text of one top-level field of a JSON object column; null when absent or JSON null. -#}
{% macro json_text(column, field) -%}
{{ return(adapter.dispatch('json_text')(column, field)) }}
{%- endmacro %}

{% macro default__json_text(column, field) -%}
json_extract_path_text({{ column }}, '{{ field }}')
{%- endmacro %}

{% macro postgres__json_text(column, field) -%}
({{ column }} ->> '{{ field }}')
{%- endmacro %}
