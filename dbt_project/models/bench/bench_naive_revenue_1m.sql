{#- The naive model many projects write: ROW_NUMBER over all of landing, rebuilt as a
    table every run. Disabled unless --vars '{bench_naive: true}'; only the benchmark
    builds it, to compare with the incremental models. -#}

with

order_events as (
    select * from {{ ref('stg_shopflow__order_events') }}
    where reject_reason is null
),

numbered_copies as (
    select
        *,
        row_number() over (
            partition by order_id, event_id
            order by landing_seq
        ) as copy_number
    from order_events
),

revenue as (
    select
        event_minute as minute,
        currency,
        sum(case when event_type = 'paid' then amount else 0 end) as gross_paid_amount,
        sum(case when event_type = 'refunded' then amount else 0 end) as refunded_amount,
        count(case when event_type = 'paid' then 1 end) as paid_event_count,
        count(case when event_type = 'refunded' then 1 end) as refund_event_count
    from numbered_copies
    where copy_number = 1 and event_type in ('paid', 'refunded')
    group by event_minute, currency
),

final as (
    select
        *,
        gross_paid_amount - refunded_amount as net_amount
    from revenue
)

select * from final
