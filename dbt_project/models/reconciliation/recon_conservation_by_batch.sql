{#- Conservation per landing batch: every line read is landed or rejected at load, and
    every landed row is kept, a duplicate, or rejected by the contract. -#}
{%- set accounting_models = [
    'int_order_events_deduplicated',
    'int_order_event_duplicates',
    'int_order_events_rejected',
] %}
{%- set counted_batch_ids = 'select counted_batches.load_batch_id from counted_batches' %}
{{
    config(
        materialized='incremental',
        unique_key='load_batch_id',
        incremental_strategy='delete+insert',
        pre_hook="{{ claim_load_batches(
            'recon_conservation_by_batch',
            after=[
                'int_order_events_deduplicated',
                'int_order_event_duplicates',
                'int_order_events_rejected',
            ],
        ) }}",
        indexes=[{'columns': ['load_batch_id'], 'unique': True}],
    )
}}

with

claimed_batches as (
    select load_batch_id from {{ ref('int_load_batches_processed') }}
    where
        consumer = 'recon_conservation_by_batch'
        and (
            invocation_id = {{ current_invocation_id() }}
            or {{ 'false' if is_incremental() else 'true' }}
        )
),

{% if is_incremental() %}

-- A kept copy superseded by a late-committed earlier copy turns into a duplicate of an
-- older batch: recount that batch too.
regrouped_batches as (
    select load_batch_id from {{ ref('int_order_event_duplicates') }}
    where invocation_id = {{ current_invocation_id() }}
),

counted_batches as (
    select load_batch_id from claimed_batches
    union
    select load_batch_id from regrouped_batches
),
{% else %}

counted_batches as (
    select load_batch_id from claimed_batches
),
{% endif %}

load_batches as (
    select * from {{ ref('stg_shopflow__load_batches') }}
    where {{ in_subquery('load_batch_id', counted_batch_ids) }}
),

landed as (
    select
        load_batch_id,
        count(*) as row_count
    from {{ ref('stg_shopflow__order_events') }}
    where {{ in_subquery('load_batch_id', counted_batch_ids) }}
    group by load_batch_id
),

{%- for model_name in accounting_models %}

{{ model_name }}_counts as (
    select
        load_batch_id,
        count(*) as row_count
    from {{ ref(model_name) }}
    where {{ in_subquery('load_batch_id', counted_batch_ids) }}
    group by load_batch_id
),
{%- endfor %}

ledger as (
    select
        load_batches.load_batch_id,
        load_batches.source_file,
        load_batches.first_line,
        load_batches.last_line,
        load_batches.lines_read,
        load_batches.lines_rejected_at_load,
        load_batches.rows_landed,
        coalesce(landed.row_count, 0) as rows_in_landing,
        coalesce(int_order_events_deduplicated_counts.row_count, 0) as rows_kept,
        coalesce(int_order_event_duplicates_counts.row_count, 0) as rows_duplicate,
        coalesce(int_order_events_rejected_counts.row_count, 0) as rows_rejected
    from load_batches
    left join landed
        on load_batches.load_batch_id = landed.load_batch_id
    left join int_order_events_deduplicated_counts
        on load_batches.load_batch_id = int_order_events_deduplicated_counts.load_batch_id
    left join int_order_event_duplicates_counts
        on load_batches.load_batch_id = int_order_event_duplicates_counts.load_batch_id
    left join int_order_events_rejected_counts
        on load_batches.load_batch_id = int_order_events_rejected_counts.load_batch_id
),

final as (
    select
        *,
        (
            lines_read = rows_landed + lines_rejected_at_load
            and rows_in_landing = rows_landed
            and rows_landed = rows_kept + rows_duplicate + rows_rejected
        ) as is_balanced,
        {{ dbt.current_timestamp() }} as reconciled_at,
        {{ current_invocation_id() }} as invocation_id
    from ledger
)

select * from final
