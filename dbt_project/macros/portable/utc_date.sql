{#- The UTC date of a timestamp with time zone, whatever the session's time zone. -#}
{% macro utc_date(expression) -%}
{{ return(adapter.dispatch('utc_date')(expression)) }}
{%- endmacro %}

{% macro default__utc_date(expression) -%}
cast({{ expression }} as date)
{%- endmacro %}

{% macro postgres__utc_date(expression) -%}
cast(({{ expression }} at time zone 'UTC') as date)
{%- endmacro %}
