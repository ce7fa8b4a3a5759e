{#- Conservation per source file, summed over its landing batches. -#}
{{ config(materialized='view') }}

with

batch_ledger as (
    select * from {{ ref('recon_conservation_by_batch') }}
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
        max(reconciled_at) as reconciled_at
    from batch_ledger
    group by source_file
),

final as (
    select
        *,
        (
            lines_read = rows_landed + lines_rejected_at_load
            and rows_in_landing = rows_landed
            and rows_landed = rows_kept + rows_duplicate + rows_rejected
        ) as is_balanced
    from file_ledger
)

select * from final
