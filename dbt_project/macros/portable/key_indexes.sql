{#- The indexes a model asks for, on engines that have them (PostgreSQL); none elsewhere,
    where the models' keys are proven by their tests instead. -#}
{% macro key_indexes(indexes) -%}
{{ return(adapter.dispatch('key_indexes')(indexes)) }}
{%- endmacro %}

{% macro default__key_indexes(indexes) -%}
{{ return([]) }}
{%- endmacro %}

{% macro postgres__key_indexes(indexes) -%}
{{ return(indexes) }}
{%- endmacro %}
