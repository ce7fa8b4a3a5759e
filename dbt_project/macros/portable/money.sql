{#- Exact money: a decimal with two places, wide enough for amounts below 10^12. -#}
{% macro type_money() -%}
{{ return(adapter.dispatch('type_money')()) }}
{%- endmacro %}

{% macro default__type_money() -%}
decimal(14, 2)
{%- endmacro %}

{% macro postgres__type_money() -%}
numeric(14, 2)
{%- endmacro %}


{#- Exact sums of money, unbounded where the engine allows it. -#}
{% macro type_money_sum() -%}
{{ return(adapter.dispatch('type_money_sum')()) }}
{%- endmacro %}

{% macro default__type_money_sum() -%}
decimal(38, 2)
{%- endmacro %}

{% macro postgres__type_money_sum() -%}
numeric(38, 2)
{%- endmacro %}
