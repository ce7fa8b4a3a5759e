{#- When landing last received a batch, and whether that is within max_landing_age_minutes
    (the same bound as the source's freshness block). Nothing landed yet is not stale. -#}

with

load_batches as (
    select * from {{ ref('stg_shopflow__load_batches') }}
),

latest as (
    select
        max(finished_at) as last_landed_at,
        count(*) as load_batch_count
    from load_batches
),

final as (
    select
        last_landed_at,
        load_batch_count,
        {{ var('max_landing_age_minutes') | int }} as max_landing_age_minutes,
        coalesce(
            last_landed_at >= {{ add_time(
                'minute', -1 * var('max_landing_age_minutes') | int, dbt.current_timestamp()
            ) }},
            true
        ) as is_fresh
    from latest
)

select * from final
