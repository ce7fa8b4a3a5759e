{#- One row per (order_id, event_id): the first landed copy (lowest landing_seq) wins.
    Each run reads the valid rows of the batches in its scope (int_load_batches_unprocessed)
    and looks them up in this keyed history, so a copy arriving any time later is never kept
    twice. A copy committed late with a lower landing_seq than the kept one supersedes it,
    exactly as a full refresh would decide. Processing a batch again writes nothing new: its
    first copies are already the history's (or superseded by earlier ones).

    Where it is written by partition (Spark: one partition per landing batch, the kept copy's),
    the partitions of the scope's batches and of the copies they superseded are written
    whole. -#}
{{
    config(
        unique_key=['order_id', 'event_id'],
        partition_by=['load_batch_id'],
        indexes=key_indexes([
            {'columns': ['order_id', 'event_id'], 'unique': True},
            {'columns': ['landing_seq'], 'unique': True},
            {'columns': ['load_batch_id']},
            {'columns': ['event_minute']},
        ]),
    )
}}
{#- The columns kept. Only these are read from staging: the window below sorts whole rows,
    and the landed record is most of a row's width. -#}
{%- set kept_columns = [
    'order_id', 'event_id', 'event_type', 'event_at', 'event_minute', 'amount', 'currency',
    'customer_id', 'landing_seq', 'load_batch_id', 'source_file', 'loaded_at',
] %}
{%- set columns = kept_columns + [
    'superseded_landing_seq', 'superseded_event_minute', 'deduplicated_at', 'invocation_id',
] %}

with

valid_events as (
    select {{ kept_columns | join(', ') }}
    from {{ ref('stg_shopflow__order_events') }}
    where
        reject_reason is null
        and {{ in_run_scope() }}
),

{% if is_incremental() %}

history as (
    select * from {{ this }}
),
{% endif %}

numbered_copies as (
    select
        *,
        row_number() over (
            partition by order_id, event_id
            order by landing_seq
        ) as copy_number
    from valid_events
),

first_copies as (
    select * from numbered_copies
    where copy_number = 1
),

{% if is_incremental() %}

new_or_earlier as (
    select
        first_copies.*,
        history.landing_seq as superseded_landing_seq,
        history.event_minute as superseded_event_minute
    from first_copies
    left join history
        on
            first_copies.order_id = history.order_id
            and first_copies.event_id = history.event_id
    where history.landing_seq is null or history.landing_seq > first_copies.landing_seq
),
{% else %}

new_or_earlier as (
    select
        *,
        cast(null as {{ dbt.type_bigint() }}) as superseded_landing_seq,
        cast(null as {{ type_timestamp_utc() }}) as superseded_event_minute
    from first_copies
),
{% endif %}

final as (
    select
        {{ kept_columns | join(', ') }},
        superseded_landing_seq,
        superseded_event_minute,
        {{ dbt.current_timestamp() }} as deduplicated_at,
        {{ current_invocation_id() }} as invocation_id
    from new_or_earlier
)

select * from final
{{ unchanged_rows_of_overwritten_partitions(
    columns, 'load_batch_id', replaced_by=['order_id', 'event_id']
) }}
