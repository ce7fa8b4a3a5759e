{#- The sequence numbers each producer has not delivered: its open gaps, each a range
    [first_missing, last_missing] below the highest number seen, noticed when a higher number
    first arrived; and one open-ended row [highest seen + 1, ∞) (last_missing null), the
    numbers still to come. Together a producer's rows are exactly the numbers not seen since
    0, where every producer's sequence starts.

    Each run splits only the ranges that the scope's numbers fall in (a new producer starts
    from [0, ∞)): a late event closes its gap or cuts it in two, the pieces keeping the gap's
    noticed_at. It writes the pieces by key (producer_id, first_missing); a split range whose
    own first number arrived is written emptied, and the post-hook deletes it. Where the
    model is written by partition (Spark: one per producer), the producers' other ranges are
    written again beside the pieces. The pieces of a set of numbers are a set: processing a
    batch again writes the same rows, or none. -#}
{{
    config(
        unique_key=['producer_id', 'first_missing'],
        partition_by=['producer_id'],
        post_hook="{{ delete_emptied_rows(this, 'last_missing < first_missing') }}",
        indexes=key_indexes([
            {'columns': ['producer_id', 'first_missing'], 'unique': True},
        ]),
    )
}}
{%- set columns = [
    'producer_id', 'first_missing', 'last_missing', 'missing_count', 'noticed_at',
    'recorded_at', 'invocation_id',
] %}

with

arrived as (
    select
        producer_id,
        sequence,
        min(loaded_at) as loaded_at
    from {{ ref('int_producer_sequences') }}
    where {{ in_run_scope() }}
    group by producer_id, sequence
),

{% if is_incremental() %}

known_ranges as (
    select
        producer_id,
        first_missing,
        last_missing,
        noticed_at
    from {{ this }}
    where {{ in_subquery('producer_id', 'select distinct arrived.producer_id from arrived') }}
),
{% else %}

known_ranges as (
    select
        cast(null as {{ dbt.type_string() }}) as producer_id,
        cast(null as {{ dbt.type_bigint() }}) as first_missing,
        cast(null as {{ dbt.type_bigint() }}) as last_missing,
        cast(null as {{ type_timestamp_utc() }}) as noticed_at
    from arrived
    where false
),
{% endif %}

ranges as (
    select
        *,
        true as is_known
    from known_ranges
    union all
    select distinct
        arrived.producer_id,
        cast(0 as {{ dbt.type_bigint() }}) as first_missing,
        cast(null as {{ dbt.type_bigint() }}) as last_missing,
        cast(null as {{ type_timestamp_utc() }}) as noticed_at,
        false as is_known
    from arrived
    where not exists (
        select 1 as is_known from known_ranges
        where known_ranges.producer_id = arrived.producer_id
    )
),

-- Each arrived number can only lie in the range starting nearest below it: in one pass over
-- the producer's range starts and numbers in order (ranges first on a tie), the last start
-- seen.
positions as (
    select
        producer_id,
        first_missing as position,
        0 as is_number,
        first_missing as range_first,
        cast(null as {{ type_timestamp_utc() }}) as loaded_at
    from ranges
    union all
    select
        producer_id,
        sequence as position,
        1 as is_number,
        cast(null as {{ dbt.type_bigint() }}) as range_first,
        loaded_at
    from arrived
),

located as (
    select
        producer_id,
        position as sequence,
        is_number,
        loaded_at,
        max(range_first) over (
            partition by producer_id
            order by position, is_number
            rows between unbounded preceding and current row
        ) as range_first
    from positions
),

filled as (
    select
        ranges.producer_id,
        ranges.first_missing as range_first,
        ranges.last_missing as range_last,
        ranges.noticed_at as range_noticed_at,
        ranges.is_known,
        located.sequence,
        located.loaded_at
    from located
    inner join ranges
        on
            located.producer_id = ranges.producer_id
            and located.range_first = ranges.first_missing
    where
        located.is_number = 1
        and (ranges.last_missing is null or ranges.last_missing >= located.sequence)
),

-- first_missing: the key of the range, replaced by its pieces.
split_ranges as (
    select distinct
        producer_id,
        range_first,
        range_last,
        range_noticed_at,
        is_known,
        range_first as first_missing
    from filled
),

-- The numbers that arrived in each split range, between the numbers just outside it.
bounds as (
    select
        producer_id,
        range_first,
        range_last,
        range_noticed_at,
        sequence,
        loaded_at
    from filled
    union all
    select
        producer_id,
        range_first,
        range_last,
        range_noticed_at,
        range_first - 1 as sequence,
        cast(null as {{ type_timestamp_utc() }}) as loaded_at
    from split_ranges
    union all
    select
        producer_id,
        range_first,
        range_last,
        range_noticed_at,
        range_last + 1 as sequence,
        cast(null as {{ type_timestamp_utc() }}) as loaded_at
    from split_ranges
    where range_last is not null
),

pieces as (
    select
        producer_id,
        range_last,
        range_noticed_at,
        sequence + 1 as first_missing,
        lead(sequence) over (
            partition by producer_id, range_first order by sequence
        ) - 1 as last_missing,
        -- A new gap is noticed when the first number above it arrives.
        min(loaded_at) over (
            partition by producer_id, range_first
            order by sequence desc
            rows between unbounded preceding and 1 preceding
        ) as first_above_loaded_at
    from bounds
),

new_ranges as (
    select
        producer_id,
        first_missing,
        last_missing,
        case
            when last_missing is null then null
            when range_last is null then first_above_loaded_at
            else range_noticed_at
        end as noticed_at
    from pieces
    where
        first_missing <= last_missing
        -- The open end of an open-ended range; a bounded range's upper bound opens nothing.
        or (last_missing is null and range_last is null)
),

{% if is_incremental() and not overwrites_partitions() %}

emptied_ranges as (
    select
        split_ranges.producer_id,
        split_ranges.first_missing,
        split_ranges.first_missing - 1 as last_missing,
        cast(null as {{ type_timestamp_utc() }}) as noticed_at
    from split_ranges
    where
        split_ranges.is_known
        and not exists (
            select 1 as is_kept from new_ranges
            where
                new_ranges.producer_id = split_ranges.producer_id
                and new_ranges.first_missing = split_ranges.first_missing
        )
),

written_ranges as (
    select * from new_ranges
    union all
    select * from emptied_ranges
),
{% else %}

written_ranges as (
    select * from new_ranges
),
{% endif %}

final as (
    select
        producer_id,
        first_missing,
        last_missing,
        last_missing - first_missing + 1 as missing_count,
        noticed_at,
        {{ dbt.current_timestamp() }} as recorded_at,
        {{ current_invocation_id() }} as invocation_id
    from written_ranges
)

select * from final
{{ unchanged_rows_of_overwritten_partitions(
    columns, 'producer_id', replaced_by=['producer_id', 'first_missing'],
    replaced='split_ranges'
) }}
