{#- Every valid landed copy that is not the kept copy of its (order_id, event_id). A copy
    arriving more than lookback_minutes after the kept copy is a late duplicate, reported
    as such; however late it comes, the keyed deduplicated history catches it. -#}
{{
    config(
        unique_key='landing_seq',
        incremental_strategy='delete+insert',
        pre_hook="{{ claim_load_batches(
            'int_order_event_duplicates', after=['int_order_events_deduplicated']
        ) }}",
        indexes=[
            {'columns': ['landing_seq'], 'unique': True},
            {'columns': ['load_batch_id']},
            {'columns': ['order_id', 'event_id']},
            {'columns': ['event_minute']},
            {'columns': ['invocation_id']},
        ],
    )
}}
-- depends_on: {{ ref('stg_shopflow__load_batches') }}
{#- The columns a copy keeps: the landed record, most of a row's width, stays behind. -#}
{%- set copy_columns = [
    'landing_seq', 'order_id', 'event_id', 'event_type', 'event_at', 'event_minute',
    'amount', 'currency', 'customer_id', 'load_batch_id', 'source_file', 'source_line',
    'loaded_at',
] %}

{#- A kept copy carries its own landing batch, so the copies of this run's batches that the
    history did not keep are their rows less the history's rows of the same batches: two
    lookups by load_batch_id, whatever the size of the history. -#}
{%- set not_kept_in_claimed_batches -%}
select landed.landing_seq
from {{ source('shopflow', 'order_events') }} as landed
where {{ in_subquery(
    'landed.load_batch_id', claimed_load_batches('int_order_event_duplicates')
) }}
except
select kept.landing_seq
from {{ ref('int_order_events_deduplicated') }} as kept
where {{ in_subquery(
    'kept.load_batch_id', claimed_load_batches('int_order_event_duplicates')
) }}
{%- endset %}

with

{% if is_incremental() %}

-- The rows of this run's batches that the history did not keep, found before any JSON is
-- read: the contract is evaluated for those rows, not the whole batch.
landed_copies as (
    select {{ copy_columns | join(', ') }}
    from {{ ref('stg_shopflow__order_events') }}
    where
        reject_reason is null
        and {{ in_subquery('landing_seq', not_kept_in_claimed_batches) }}
),
{% else %}

landed_copies as (
    select {{ copy_columns | join(', ') }}
    from {{ ref('stg_shopflow__order_events') }}
    where reject_reason is null
),
{% endif %}

kept_events as (
    select * from {{ ref('int_order_events_deduplicated') }}
),

{% if is_incremental() %}

-- Batch by batch (a lateral lookup), so the load_batch_id index is used however large the
-- landing batches of the history are.
superseding_events as (
    select kept_in_batch.superseded_landing_seq
    from (
        {{ claimed_load_batches('int_order_event_duplicates') }}
    ) as claimed_batches
    cross join lateral (
        select kept.superseded_landing_seq
        from {{ ref('int_order_events_deduplicated') }} as kept
        where
            kept.load_batch_id = claimed_batches.load_batch_id
            and kept.superseded_landing_seq is not null
    ) as kept_in_batch
),

superseded_copies as (
    select {{ copy_columns | join(', ') }}
    from {{ ref('stg_shopflow__order_events') }}
    where {{ in_subquery(
        'landing_seq',
        'select superseding_events.superseded_landing_seq from superseding_events'
    ) }}
),

history as (
    select * from {{ this }}
),

-- A superseded copy is valid, so it is among landed_copies exactly when its batch is one of
-- this run's: a row filter, not a join.
candidate_copies as (
    select * from landed_copies
    union all
    select * from superseded_copies
    where not {{ in_subquery(
        'load_batch_id', claimed_load_batches('int_order_event_duplicates')
    ) }}
),
{% else %}

candidate_copies as (
    select * from landed_copies
),
{% endif %}

duplicates as (
    select
        candidate_copies.*,
        kept_events.landing_seq as kept_landing_seq,
        kept_events.loaded_at as kept_loaded_at
    from candidate_copies
    inner join kept_events
        on
            candidate_copies.order_id = kept_events.order_id
            and candidate_copies.event_id = kept_events.event_id
    where candidate_copies.landing_seq <> kept_events.landing_seq
),

{% if is_incremental() %}

new_duplicates as (
    select * from duplicates
    where not exists (
        select 1 as is_known from history
        where history.landing_seq = duplicates.landing_seq
    )
),
{% else %}

new_duplicates as (
    select * from duplicates
),
{% endif %}

final as (
    select
        landing_seq,
        order_id,
        event_id,
        event_type,
        event_at,
        event_minute,
        amount,
        currency,
        customer_id,
        load_batch_id,
        source_file,
        source_line,
        loaded_at,
        kept_landing_seq,
        coalesce(
            loaded_at > {{ dbt.dateadd(
                'minute', var('lookback_minutes') | int, 'kept_loaded_at'
            ) }},
            false
        ) as is_late_duplicate,
        {{ dbt.current_timestamp() }} as detected_at,
        {{ current_invocation_id() }} as invocation_id
    from new_duplicates
)

select * from final
