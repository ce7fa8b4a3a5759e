{#- Cast an RFC 3339 text with offset (already validated) to a UTC timestamp with time zone. -#}
{% macro timestamp_utc(expression) -%}
{{ return(adapter.dispatch('timestamp_utc')(expression)) }}
{%- endmacro %}

{% macro default__timestamp_utc(expression) -%}
cast({{ expression }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro postgres__timestamp_utc(expression) -%}
cast({{ expression }} as timestamptz)
{%- endmacro %}


{#- The type of timestamps with time zone, for casts of typed nulls and contracts. -#}
{% macro type_timestamp_utc() -%}
{{ return(adapter.dispatch('type_timestamp_utc')()) }}
{%- endmacro %}

{% macro default__type_timestamp_utc() -%}
{{ dbt.type_timestamp() }}
{%- endmacro %}

{% macro postgres__type_timestamp_utc() -%}
timestamptz
{%- endmacro %}
