{#- Duplicates whose business fields differ from the kept copy: the kept copy counts, the
    conflict is listed here with both values and when each copy landed. Times are compared
    by what the fact counts them in as well (event_minute, taken from the text) as by
    event_at. -#}
{{ config(materialized='view') }}

with

duplicates as (
    select * from {{ ref('int_order_event_duplicates') }}
),

kept_events as (
    select * from {{ ref('int_order_events_deduplicated') }}
),

conflicts as (
    select
        duplicates.order_id,
        duplicates.event_id,
        kept_events.landing_seq as kept_landing_seq,
        duplicates.landing_seq as conflicting_landing_seq,
        kept_events.event_type as kept_event_type,
        duplicates.event_type as conflicting_event_type,
        kept_events.amount as kept_amount,
        duplicates.amount as conflicting_amount,
        kept_events.currency as kept_currency,
        duplicates.currency as conflicting_currency,
        kept_events.event_at as kept_event_at,
        duplicates.event_at as conflicting_event_at,
        kept_events.loaded_at as kept_loaded_at,
        duplicates.loaded_at as conflicting_loaded_at,
        duplicates.source_file as conflicting_source_file,
        duplicates.source_line as conflicting_source_line,
        duplicates.load_batch_id as conflicting_load_batch_id,
        duplicates.detected_at,
        duplicates.invocation_id
    from duplicates
    inner join kept_events
        on
            duplicates.order_id = kept_events.order_id
            and duplicates.event_id = kept_events.event_id
    where
        duplicates.event_type is distinct from kept_events.event_type
        or duplicates.amount is distinct from kept_events.amount
        or duplicates.currency is distinct from kept_events.currency
        or duplicates.event_at is distinct from kept_events.event_at
        or duplicates.event_minute is distinct from kept_events.event_minute
),

final as (
    select * from conflicts
)

select * from final
