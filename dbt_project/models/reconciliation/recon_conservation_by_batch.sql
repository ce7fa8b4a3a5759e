{#- The conservation ledger, per landing batch: every line read is landed or rejected at
    load, every landed row is in landing, and every landed row is exactly one of kept,
    duplicate or rejected by the contract. Counted row by row (a row counted twice and another
    missing do not cancel out): a landed row that none of the three models holds is
    unaccounted, and the three models together hold as many rows as landing does.

    A view: it shows the tables as they are now. Each batch's figures are correlated
    lookups by load_batch_id and landing_seq, so reading the run's batches (what the checks
    do) costs what those batches cost; reading all of it is a pass over all of history. -#}

with

load_batches as (
    select * from {{ ref('stg_shopflow__load_batches') }}
),

counted as (
    select
        load_batches.load_batch_id,
        load_batches.source_file,
        load_batches.first_line,
        load_batches.last_line,
        load_batches.lines_read,
        load_batches.lines_rejected_at_load,
        load_batches.rows_landed,
        (
            select count(*) as row_count from {{ ref('stg_shopflow__order_events') }} as landed
            where landed.load_batch_id = load_batches.load_batch_id
        ) as rows_in_landing,
        (
            select count(*) as row_count from {{ ref('int_order_events_deduplicated') }} as kept
            where kept.load_batch_id = load_batches.load_batch_id
        ) as rows_kept,
        (
            select count(*) as row_count from {{ ref('int_order_event_duplicates') }} as duplicates
            where duplicates.load_batch_id = load_batches.load_batch_id
        ) as rows_duplicate,
        (
            select count(*) as row_count from {{ ref('int_order_events_rejected') }} as rejected
            where rejected.load_batch_id = load_batches.load_batch_id
        ) as rows_rejected,
        (
            select count(*) as row_count from {{ ref('stg_shopflow__order_events') }} as landed
            where
                landed.load_batch_id = load_batches.load_batch_id
                and not exists (
                    select 1 as is_kept from {{ ref('int_order_events_deduplicated') }} as kept
                    where kept.landing_seq = landed.landing_seq
                )
                and not exists (
                    select 1 as is_duplicate
                    from {{ ref('int_order_event_duplicates') }} as duplicates
                    where duplicates.landing_seq = landed.landing_seq
                )
                and not exists (
                    select 1 as is_rejected
                    from {{ ref('int_order_events_rejected') }} as rejected
                    where rejected.landing_seq = landed.landing_seq
                )
        ) as rows_unaccounted
    from load_batches
),

final as (
    select
        *,
        (
            lines_read = rows_landed + lines_rejected_at_load
            and rows_in_landing = rows_landed
            and rows_kept + rows_duplicate + rows_rejected = rows_in_landing
            and rows_unaccounted = 0
        ) as is_balanced
    from counted
)

select * from final
