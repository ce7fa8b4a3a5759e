{#- True when the text matches a POSIX regular expression (null stays null). -#}
{% macro matches_regex(expression, pattern) -%}
{{ return(adapter.dispatch('matches_regex')(expression, pattern)) }}
{%- endmacro %}

{% macro default__matches_regex(expression, pattern) -%}
regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__matches_regex(expression, pattern) -%}
({{ expression }} ~ '{{ pattern }}')
{%- endmacro %}

{% macro spark__matches_regex(expression, pattern) -%}
({{ expression }} rlike '{{ pattern }}')
{%- endmacro %}
