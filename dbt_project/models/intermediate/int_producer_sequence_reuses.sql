{#- A producer's sequence number carried by more than one (order_id, event_id): a producer
    bug, reported like a conflict. The first event to land with the number is the kept one;
    each other event with it is listed beside it. Retries and replays of one event are one
    row of int_producer_sequences, never a reuse. -#}
{{ config(materialized='view') }}

with

stamps as (
    select * from {{ ref('int_producer_sequences') }}
),

numbered as (
    select
        *,
        row_number() over (
            partition by producer_id, sequence
            order by landing_seq
        ) as arrival_number
    from stamps
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
    from numbered as reused
    inner join numbered as kept
        on
            reused.producer_id = kept.producer_id
            and reused.sequence = kept.sequence
            and kept.arrival_number = 1
    where reused.arrival_number > 1
),

final as (
    select * from reuses
)

select * from final
