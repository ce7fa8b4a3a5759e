{#- Fails with every combination of the columns that occurs more than once (a primary key
    test for composite keys). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

model_rows as (
    select * from {{ model }}
),

repeated_keys as (
    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as row_count
    from model_rows
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
),

final as (
    select * from repeated_keys
)

select * from final

{% endtest %}
