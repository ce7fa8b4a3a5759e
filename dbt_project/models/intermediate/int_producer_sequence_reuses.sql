{#- A producer's sequence number carried by more than one (order_id, event_id): a producer
    bug, reported like a conflict. The first event to land with the number is the kept one;
    each other event with it is listed beside it. Retries and replays of one event are one
    row of int_producer_sequences, never a reuse.

    Joins, not a window over all stamps: a filter on the reusing row's batch (the checks
    look at the run's batches only) reaches the table's load_batch_id index, and each of
    those rows finds its kept row by the key's index, so a check costs what the batch
    costs. Each import is read once: PostgreSQL materializes a CTE read twice, whole. -#}
{{ config(materialized='view') }}

with

reusing_stamps as (
    select * from {{ ref('int_producer_sequences') }}
),

kept_stamps as (
    select * from {{ ref('int_producer_sequences') }}
),

earlier_stamps as (
    select * from {{ ref('int_producer_sequences') }}
),

kept as (
    select *
    from kept_stamps as first_stamp
    where not exists (
        select 1 as is_earlier
        from earlier_stamps as earlier
        where
            earlier.producer_id = first_stamp.producer_id
            and earlier.sequence = first_stamp.sequence
            and earlier.landing_seq < first_stamp.landing_seq
    )
),

reuses as (
    select
        reused.producer_id,
        reused.sequence,
        kept.order_id as kept_order_id,
        kept.event_id as kept_event_id,
        kept.landing_seq as kept_landing_seq,
        kept.loaded_at as kept_loaded_at,
        reused.order_id as reusing_order_id,
        reused.event_id as reusing_event_id,
        reused.landing_seq as reusing_landing_seq,
        reused.load_batch_id as reusing_load_batch_id,
        reused.loaded_at as reusing_loaded_at
    from reusing_stamps as reused
    inner join kept
        on
            reused.producer_id = kept.producer_id
            and reused.sequence = kept.sequence
            and reused.landing_seq > kept.landing_seq
),

final as (
    select * from reuses
)

select * from final
