{#- True when a top-level field of a JSON object column is a JSON string; null when absent. -#}
{% macro json_is_string(column, field) -%}
{{ return(adapter.dispatch('json_is_string')(column, field)) }}
{%- endmacro %}

{% macro default__json_is_string(column, field) -%}
(json_type({{ column }}, '$.{{ field }}') = 'text')
{%- endmacro %}

{% macro postgres__json_is_string(column, field) -%}
(jsonb_typeof({{ column }} -> '{{ field }}') = 'string')
{%- endmacro %}

{% macro spark__json_is_string(column, field) -%}
({{ column }}_types['{{ field }}'] = 'string')
{%- endmacro %}
