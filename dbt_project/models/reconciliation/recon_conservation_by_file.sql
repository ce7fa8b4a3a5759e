{#- Conservation per source file: its landing batches summed (recon_conservation_by_batch),
    and the line its loader holds back, if any: an unterminated last line of a file still
    being written is pending, not lost, until it lands. -#}

with

batch_ledger as (
    select * from {{ ref('recon_conservation_by_batch') }}
),

source_offsets as (
    select * from {{ ref('stg_shopflow__source_offsets') }}
),

file_ledger as (
    select
        source_file,
        count(*) as load_batch_count,
        sum(lines_read) as lines_read,
        sum(lines_rejected_at_load) as lines_rejected_at_load,
        sum(rows_landed) as rows_landed,
        sum(rows_in_landing) as rows_in_landing,
        sum(rows_kept) as rows_kept,
        sum(rows_duplicate) as rows_duplicate,
        sum(rows_rejected) as rows_rejected,
        sum(rows_unaccounted) as rows_unaccounted
    from batch_ledger
    group by source_file
),

final as (
    select
        file_ledger.*,
        case when source_offsets.pending_bytes > 0 then 1 else 0 end as lines_pending,
        coalesce(source_offsets.pending_bytes, 0) as bytes_pending,
        (
            file_ledger.lines_read
            = file_ledger.rows_landed + file_ledger.lines_rejected_at_load
            and file_ledger.rows_in_landing = file_ledger.rows_landed
            and file_ledger.rows_kept + file_ledger.rows_duplicate + file_ledger.rows_rejected
            = file_ledger.rows_in_landing
            and file_ledger.rows_unaccounted = 0
        ) as is_balanced
    from file_ledger
    left join source_offsets
        on file_ledger.source_file = source_offsets.source_file
)

select * from final
