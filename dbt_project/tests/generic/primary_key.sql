{#- A key: fails with every value of the columns that is null or occurs more than once.
    On a column (column_name) or on a model (columns: a list, for composite keys).

    scope: a column of the model to check only the keys of the rows the current run works
    on, those whose scope column is among int_load_batches_unprocessed's `scope_by` column
    (load_batch_id, or invocation_id for a model stamped with the build that wrote it).
    Their repeats anywhere in the model are found, so the test costs what the batch costs,
    not what the history costs. Without it, every row is checked. -#}
{% test primary_key(model, column_name=none, columns=none, scope=none, scope_by='load_batch_id') %}
{%- set columns = columns or [column_name] %}
{%- set key = columns | join(', ') %}

with

model_rows as (
    select * from {{ model }}
),

{% if scope %}

scoped_rows as (
    select * from model_rows
    where {{ in_subquery(
        scope, 'select run_batches.' ~ scope_by ~ ' from ' ~ ref('int_load_batches_unprocessed')
        ~ ' as run_batches'
    ) }}
),

repeated_keys as (
    select
        {{ key }},
        count(*) as row_count
    from model_rows
    where ({{ key }}) in (select {{ key }} from scoped_rows)
    group by {{ key }}
    having count(*) > 1
),

null_keys as (
    select
        {{ key }},
        count(*) as row_count
    from scoped_rows
    where {{ columns | join(' is null or ') }} is null
    group by {{ key }}
),

broken_keys as (
    select * from repeated_keys
    union all
    select * from null_keys
),
{% else %}

broken_keys as (
    select
        {{ key }},
        count(*) as row_count
    from model_rows
    group by {{ key }}
    having count(*) > 1 or {{ columns | join(' is null or ') }} is null
),
{% endif %}

final as (
    select * from broken_keys
)

select * from final

{% endtest %}
