{#- A key: fails with every value of the columns that is null or occurs more than once.
    On a column (column_name) or on a model (columns: a list, for composite keys). -#}
{% test primary_key(model, column_name=none, columns=none) %}
{%- set columns = columns or [column_name] %}

with

model_rows as (
    select * from {{ model }}
),

broken_keys as (
    select
        {{ columns | join(',\n        ') }},
        count(*) as row_count
    from model_rows
    group by {{ columns | join(', ') }}
    having count(*) > 1 or {{ columns | join(' is null or ') }} is null
),

final as (
    select * from broken_keys
)

select * from final

{% endtest %}
