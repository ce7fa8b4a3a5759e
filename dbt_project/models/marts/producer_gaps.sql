{#- The open gaps of every producer: the sequence numbers below its highest one that never
    arrived, as ranges, with when each was noticed and whether it has been open longer than
    gap_grace_minutes (a late event may still fill it until then). -#}
{{ config(materialized='view') }}

with

ranges as (
    select * from {{ ref('int_producer_gaps') }}
),

final as (
    select
        producer_id,
        first_missing,
        last_missing,
        missing_count,
        noticed_at,
        cast(
            {{ dbt.datediff('noticed_at', dbt.current_timestamp(), 'second') }}
            as {{ dbt.type_bigint() }}
        ) as open_seconds,
        noticed_at < {{ add_time(
            'minute', -1 * var('gap_grace_minutes') | int, dbt.current_timestamp()
        ) }} as is_overdue
    from ranges
    where last_missing is not null
)

select * from final
