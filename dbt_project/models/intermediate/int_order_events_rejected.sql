{#- Landed rows that break the order_events contract, each with its reject reason; each run
    recomputes the rows of the batches in its scope and overwrites them by landing_seq. -#}
{{
    config(
        unique_key='landing_seq',
        partition_by=['load_batch_id'],
        indexes=key_indexes([
            {'columns': ['landing_seq'], 'unique': True},
            {'columns': ['load_batch_id']},
        ]),
    )
}}
{%- set columns = [
    'landing_seq', 'load_batch_id', 'source_file', 'source_line', 'loaded_at', 'reject_reason',
    'event_id', 'order_id', 'event_type', 'event_time_text', 'amount_text', 'currency', 'record',
    'detected_at', 'invocation_id',
] %}

with

order_events as (
    select * from {{ ref('stg_shopflow__order_events') }}
    where
        reject_reason is not null
        and {{ in_run_scope() }}
),

final as (
    select
        landing_seq,
        load_batch_id,
        source_file,
        source_line,
        loaded_at,
        reject_reason,
        event_id,
        order_id,
        event_type,
        event_time_text,
        amount_text,
        currency,
        record,
        {{ dbt.current_timestamp() }} as detected_at,
        {{ current_invocation_id() }} as invocation_id
    from order_events
)

select * from final
{{ unchanged_rows_of_overwritten_partitions(
    columns, 'load_batch_id', replaced_by=['landing_seq']
) }}
