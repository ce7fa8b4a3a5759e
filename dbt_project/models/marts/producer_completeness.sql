{#- One row per producer: how much of its sequence arrived. highest_sequence is the highest
    number seen; every number from 0 to it either arrived (sequences_seen) or is missing, in
    one of the open gaps of producer_gaps. -#}
{{ config(materialized='view') }}

with

ranges as (
    select * from {{ ref('int_producer_gaps') }}
),

gaps as (
    select * from {{ ref('producer_gaps') }}
),

stamps as (
    select * from {{ ref('int_producer_sequences') }}
),

reuses as (
    select * from {{ ref('int_producer_sequence_reuses') }}
),

frontier as (
    select
        producer_id,
        first_missing - 1 as highest_sequence
    from ranges
    where last_missing is null
),

open_gaps as (
    select
        producer_id,
        count(*) as open_gap_count,
        cast(sum(missing_count) as {{ dbt.type_bigint() }}) as missing_count,
        min(noticed_at) as oldest_gap_noticed_at,
        max(open_seconds) as oldest_gap_open_seconds,
        min(first_missing) as lowest_missing,
        count(case when is_overdue then 1 end) as overdue_gap_count
    from gaps
    group by producer_id
),

arrivals as (
    select
        producer_id,
        count(case when arrived_out_of_order then 1 end) as out_of_order_count,
        max(loaded_at) as last_loaded_at
    from stamps
    group by producer_id
),

reused as (
    select
        producer_id,
        count(distinct sequence) as reused_sequence_count
    from reuses
    group by producer_id
),

final as (
    select
        frontier.producer_id,
        frontier.highest_sequence,
        frontier.highest_sequence + 1 - coalesce(open_gaps.missing_count, 0) as sequences_seen,
        coalesce(open_gaps.missing_count, 0) as missing_count,
        coalesce(open_gaps.open_gap_count, 0) as open_gap_count,
        coalesce(open_gaps.overdue_gap_count, 0) as overdue_gap_count,
        open_gaps.lowest_missing,
        open_gaps.oldest_gap_noticed_at,
        open_gaps.oldest_gap_open_seconds,
        coalesce(arrivals.out_of_order_count, 0) as out_of_order_count,
        coalesce(reused.reused_sequence_count, 0) as reused_sequence_count,
        arrivals.last_loaded_at
    from frontier
    left join open_gaps on frontier.producer_id = open_gaps.producer_id
    left join arrivals on frontier.producer_id = arrivals.producer_id
    left join reused on frontier.producer_id = reused.producer_id
)

select * from final
