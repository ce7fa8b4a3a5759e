{#- Pre-hook of a table that holds only what its latest build selected, but must not be
    replaced (dropping a table drops the views that read it): its rows are deleted in the
    transaction that appends the new ones. -#}
{% macro delete_all_rows(relation) -%}
{{ return(adapter.dispatch('delete_all_rows')(relation)) }}
{%- endmacro %}

{% macro default__delete_all_rows(relation) -%}
{%- if is_incremental() -%}
delete from {{ relation }}
{%- endif -%}
{%- endmacro %}

{#- Spark overwrites the whole table instead (insert_overwrite without partitions). -#}
{% macro spark__delete_all_rows(relation) -%}
{%- endmacro %}
