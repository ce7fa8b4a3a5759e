{#- The sequence numbers each producer stamped on the lines that reached landing: one row per
    (producer_id, sequence, order_id, event_id), the first landed copy's. A line rejected for
    another field still counts: it arrived (and is accounted for among the rejects); its
    missing ids are held as ''. Two rows with one (producer_id, sequence) are a sequence
    number reused for another event (int_producer_sequence_reuses).

    arrived_out_of_order: a higher sequence number of the producer had arrived before it
    (recorded by an earlier run, or earlier in landing order in the same run): it filled a
    gap.

    Each run reads the scope's stamped rows and looks them up here by key; a copy committed
    late with a lower landing_seq takes the row over, exactly as a full refresh would decide.
    Processing a batch again writes nothing new. -#}
{{
    config(
        unique_key=['producer_id', 'sequence', 'order_id', 'event_id'],
        partition_by=['load_batch_id'],
        indexes=key_indexes([
            {'columns': ['producer_id', 'sequence', 'order_id', 'event_id'], 'unique': True},
            {'columns': ['load_batch_id']},
        ]),
    )
}}
{%- set stamp_columns = [
    'producer_id', 'sequence', 'order_id', 'event_id', 'landing_seq', 'load_batch_id',
    'loaded_at',
] %}
{%- set columns = stamp_columns + ['arrived_out_of_order', 'recorded_at', 'invocation_id'] %}

with

stamped_rows as (
    select
        producer_id,
        sequence,
        coalesce(order_id, '') as order_id,
        coalesce(event_id, '') as event_id,
        landing_seq,
        load_batch_id,
        loaded_at
    from {{ ref('stg_shopflow__order_events') }}
    where
        producer_id is not null
        and {{ in_run_scope() }}
),

numbered_copies as (
    select
        *,
        row_number() over (
            partition by producer_id, sequence, order_id, event_id
            order by landing_seq
        ) as copy_number,
        max(sequence) over (
            partition by producer_id
            order by landing_seq
            rows between unbounded preceding and 1 preceding
        ) as highest_before_in_scope
    from stamped_rows
),

first_copies as (
    select * from numbered_copies
    where copy_number = 1
),

{% if is_incremental() %}

history as (
    select * from {{ this }}
),

-- The highest sequence number recorded before this run (a lookup of the key's index on
-- PostgreSQL, not a scan of the producer's history).
producers_before as (
    select
        scope_producers.producer_id,
        (
            select max(recorded.sequence) as highest from {{ this }} as recorded
            where recorded.producer_id = scope_producers.producer_id
        ) as highest_before
    from (select distinct stamped_rows.producer_id from stamped_rows) as scope_producers
),

new_or_earlier as (
    select
        first_copies.*,
        producers_before.highest_before
    from first_copies
    left join history
        on
            first_copies.producer_id = history.producer_id
            and first_copies.sequence = history.sequence
            and first_copies.order_id = history.order_id
            and first_copies.event_id = history.event_id
    left join producers_before
        on first_copies.producer_id = producers_before.producer_id
    where history.landing_seq is null or history.landing_seq > first_copies.landing_seq
),
{% else %}

new_or_earlier as (
    select
        *,
        cast(null as {{ dbt.type_bigint() }}) as highest_before
    from first_copies
),
{% endif %}

final as (
    select
        {{ stamp_columns | join(', ') }},
        coalesce(
            highest_before > sequence or highest_before_in_scope > sequence, false
        ) as arrived_out_of_order,
        {{ dbt.current_timestamp() }} as recorded_at,
        {{ current_invocation_id() }} as invocation_id
    from new_or_earlier
)

select * from final
{{ unchanged_rows_of_overwritten_partitions(
    columns, 'load_batch_id', replaced_by=['producer_id', 'sequence', 'order_id', 'event_id']
) }}
