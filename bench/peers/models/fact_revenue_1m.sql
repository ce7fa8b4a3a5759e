{#- The standard incremental fact: the minutes of the events loaded past this model's own
    watermark (the highest loaded_at it has counted) are recomputed from the deduplicated
    events and replaced by delete+insert on the unique key (minute, currency). -#}
{{
    config(
        unique_key=['minute', 'currency'],
        indexes=[
            {'columns': ['minute', 'currency'], 'unique': True},
            {'columns': ['max_loaded_at']},
        ],
    )
}}

with

events as (
    select * from {{ ref('order_events_deduplicated') }}
),

{% if is_incremental() %}

touched_minutes as (
    select distinct events.event_minute
    from events
    where
        events.loaded_at > (
            select max(this.max_loaded_at) as watermark from {{ this }} as this
        )
),

counted_events as (
    select events.*
    from events
    inner join touched_minutes
        on events.event_minute = touched_minutes.event_minute
),
{% else %}

counted_events as (
    select * from events
),
{% endif %}

revenue as (
    select
        event_minute as minute,
        currency,
        coalesce(sum(amount) filter (where event_type = 'paid'), 0) as gross_paid_amount,
        coalesce(sum(amount) filter (where event_type = 'refunded'), 0) as refunded_amount,
        count(*) filter (where event_type = 'paid') as paid_event_count,
        count(*) filter (where event_type = 'refunded') as refund_event_count,
        max(loaded_at) as max_loaded_at
    from counted_events
    where event_type in ('paid', 'refunded')
    group by event_minute, currency
),

final as (
    select
        minute,
        currency,
        gross_paid_amount,
        refunded_amount,
        gross_paid_amount - refunded_amount as net_amount,
        paid_event_count,
        refund_event_count,
        max_loaded_at
    from revenue
)

select * from final
