{#- Remove (minute, currency) rows this run left with no event at all (see fact_revenue_1m),
    where the fact is written by key (delete+insert): an overwritten partition simply no
    longer holds them. -#}
{% macro delete_empty_revenue_rows(relation) -%}
{%- if not overwrites_partitions() -%}
delete from {{ relation }}
where
    invocation_id = {{ current_invocation_id() }}
    and paid_event_count = 0
    and refund_event_count = 0
{%- endif -%}
{%- endmacro %}
