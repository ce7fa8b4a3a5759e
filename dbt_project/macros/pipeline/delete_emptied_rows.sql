{#- Post-hook of a model written by key (delete+insert) whose run must remove keys, not only
    rewrite them: the run writes each such key as an emptied row (`emptied`: the condition
    that marks it), then this deletes the emptied rows it wrote. Where a model is written by
    partition, an overwritten partition simply no longer holds them, and none is written. -#}
{% macro delete_emptied_rows(relation, emptied) -%}
{%- if not overwrites_partitions() -%}
delete from {{ relation }}
where
    invocation_id = {{ current_invocation_id() }}
    and {{ emptied }}
{%- endif -%}
{%- endmacro %}
