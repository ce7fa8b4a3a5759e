-- Fails with every source file of the current run whose lines and rows are not all accounted
-- for.
with

run_files as (
    select source_file from {{ ref('int_load_batches_unprocessed') }}
),

file_ledger as (
    select * from {{ ref('recon_conservation_by_file') }}
    where source_file in (select run_files.source_file from run_files)
),

final as (
    select * from file_ledger
    where not is_balanced
)

select * from final
