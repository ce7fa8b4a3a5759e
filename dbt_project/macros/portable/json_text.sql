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

{#- Spark's JSON functions read numbers through a double (12.50 becomes 12.5, 1e7 1.0E7), so
    countonce's Spark landing carries each top-level field's text as PostgreSQL gives it,
    beside the record (record_fields). -#}
{% macro spark__json_text(column, field) -%}
{{ column }}_fields['{{ field }}']
{%- endmacro %}
