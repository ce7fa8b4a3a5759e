{#- Revenue per UTC minute and currency. Every minute that the run's scope touches (the
    minute of each kept event of its batches, and of each kept copy those superseded) is
    recomputed from the whole deduplicated history of that minute and overwritten: never
    incremented, so replays, a batch processed twice and rebuilds cannot change a number.
    The minutes are found through the kept events of the scope's batches, not through what
    the dedup model inserted in this build, so a batch processed again recomputes them all.
    Where the fact is written by partition (Spark: one per UTC date, minute_date), the dates
    of the touched minutes are written whole. -#}
{{
    config(
        unique_key=['minute', 'currency'],
        partition_by=['minute_date'],
        post_hook="{{ delete_emptied_rows(this, 'paid_event_count = 0 and refund_event_count = 0') }}",
        indexes=key_indexes([
            {'columns': ['minute', 'currency'], 'unique': True},
            {'columns': ['invocation_id']},
        ]),
    )
}}
-- depends_on: {{ ref('int_load_batches_unprocessed') }}
{%- set columns = [
    'minute', 'currency', 'gross_paid_amount', 'refunded_amount', 'net_amount',
    'paid_event_count', 'refund_event_count', 'recomputed_at', 'invocation_id', 'minute_date',
] %}

with

{% if is_incremental() %}

touched_events as (
    select * from {{ ref('int_order_events_deduplicated') }}
    where {{ in_run_scope() }}
),

current_rows as (
    select * from {{ this }}
),

touched_minutes as (
    select event_minute as minute from touched_events
    union
    select superseded_event_minute as minute from touched_events
    where superseded_event_minute is not null
),

kept_events as (
    select * from {{ ref('int_order_events_deduplicated') }}
    where {{ in_subquery('event_minute', 'select touched_minutes.minute from touched_minutes') }}
),
{% else %}

kept_events as (
    select * from {{ ref('int_order_events_deduplicated') }}
),
{% endif %}

revenue as (
    select
        event_minute as minute,
        currency,
        sum(case when event_type = 'paid' then amount else 0 end) as gross_paid_amount,
        sum(case when event_type = 'refunded' then amount else 0 end) as refunded_amount,
        sum(case when event_type = 'paid' then 1 else 0 end) as paid_event_count,
        sum(case when event_type = 'refunded' then 1 else 0 end) as refund_event_count
    from kept_events
    where event_type in ('paid', 'refunded')
    group by event_minute, currency
),

{% if is_incremental() and not overwrites_partitions() %}

-- A (minute, currency) row can lose its last event when a late-committed earlier copy
-- changes the kept currency: recompute it as zero, then the post-hook deletes it (where the
-- fact is written by partition, a rewritten partition simply no longer holds it).
vanished_rows as (
    select
        current_rows.minute,
        current_rows.currency,
        0 as gross_paid_amount,
        0 as refunded_amount,
        0 as paid_event_count,
        0 as refund_event_count
    from current_rows
    where
        {{ in_subquery(
            'current_rows.minute', 'select touched_minutes.minute from touched_minutes'
        ) }}
        and not exists (
            select 1 as is_recomputed from revenue
            where
                revenue.minute = current_rows.minute
                and revenue.currency = current_rows.currency
        )
),

recomputed as (
    select * from revenue
    union all
    select * from vanished_rows
),
{% else %}

recomputed as (
    select * from revenue
),
{% endif %}

final as (
    select
        cast(minute as {{ type_timestamp_utc() }}) as minute,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(gross_paid_amount as {{ type_money_sum() }}) as gross_paid_amount,
        cast(refunded_amount as {{ type_money_sum() }}) as refunded_amount,
        cast(
            gross_paid_amount - refunded_amount as {{ type_money_sum() }}
        ) as net_amount,
        cast(paid_event_count as {{ dbt.type_bigint() }}) as paid_event_count,
        cast(refund_event_count as {{ dbt.type_bigint() }}) as refund_event_count,
        {{ dbt.current_timestamp() }} as recomputed_at,
        cast({{ current_invocation_id() }} as {{ dbt.type_string() }}) as invocation_id,
        {{ utc_date('minute') }} as minute_date
    from recomputed
)

select * from final
{{ unchanged_rows_of_overwritten_partitions(
    columns, 'minute_date', replaced_by=['minute'], replaced='touched_minutes'
) }}
