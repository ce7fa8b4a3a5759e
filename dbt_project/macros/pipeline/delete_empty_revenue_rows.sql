{#- Remove (minute, currency) rows this run left with no event at all (see fact_revenue_1m). -#}
{% macro delete_empty_revenue_rows(relation) -%}
delete from {{ relation }}
where
    invocation_id = {{ current_invocation_id() }}
    and paid_event_count = 0
    and refund_event_count = 0
{%- endmacro %}
