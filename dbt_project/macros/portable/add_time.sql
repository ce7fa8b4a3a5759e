{#- A timestamp plus a whole number of a datepart (minute, microsecond, ...), exact to the
    microsecond: dbt-spark's dateadd goes through whole seconds. -#}
{% macro add_time(datepart, interval, expression) -%}
{{ return(adapter.dispatch('add_time')(datepart, interval, expression)) }}
{%- endmacro %}

{% macro default__add_time(datepart, interval, expression) -%}
{{ dbt.dateadd(datepart, interval, expression) }}
{%- endmacro %}

{% macro spark__add_time(datepart, interval, expression) -%}
timestampadd({{ datepart | upper }}, {{ interval }}, {{ expression }})
{%- endmacro %}
