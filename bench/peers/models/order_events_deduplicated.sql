{#- dbt's standard incremental model: a load-time watermark, a unique key, delete+insert.
    Within one run the first landed copy of a key is kept (loaded_at, then the landing
    table's own order, as a tie-break within one load); across runs the copy read last
    replaces it. The indexes are those a data engineer gives it (dbt-postgres `indexes`):
    the unique key, the watermark, and the minute the fact recomputes by. -#}
{{
    config(
        unique_key=['order_id', 'event_id'],
        indexes=[
            {'columns': ['order_id', 'event_id'], 'unique': True},
            {'columns': ['loaded_at']},
            {'columns': ['event_minute']},
        ],
    )
}}

with

landed as (
    select * from {{ source('shopflow', 'order_events') }}
    {% if is_incremental() %}
    where loaded_at > (select max(this.loaded_at) as watermark from {{ this }} as this)
    {% endif %}
),

typed as (
    select
        record ->> 'order_id' as order_id,
        record ->> 'event_id' as event_id,
        record ->> 'event_type' as event_type,
        cast(record ->> 'event_time' as timestamptz) as event_at,
        cast(record ->> 'amount' as numeric(14, 2)) as amount,
        record ->> 'currency' as currency,
        landing_seq,
        loaded_at
    from landed
),

numbered_copies as (
    select
        *,
        row_number() over (
            partition by order_id, event_id
            order by loaded_at, landing_seq
        ) as copy_number
    from typed
),

final as (
    select
        order_id,
        event_id,
        event_type,
        event_at,
        date_trunc('minute', event_at at time zone 'UTC') at time zone 'UTC' as event_minute,
        amount,
        currency,
        landing_seq,
        loaded_at
    from numbered_copies
    where copy_number = 1
)

select * from final
