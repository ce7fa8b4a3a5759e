{#- Whether this engine's models are written by whole partitions (insert_overwrite, set per
    target in dbt_project.yml) rather than by key. -#}
{% macro overwrites_partitions() -%}
{{ return(adapter.dispatch('overwrites_partitions')()) }}
{%- endmacro %}

{% macro default__overwrites_partitions() -%}
{{ return(false) }}
{%- endmacro %}

{% macro spark__overwrites_partitions() -%}
{{ return(true) }}
{%- endmacro %}
