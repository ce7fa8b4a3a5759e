-- Fails with every source file whose lines and rows are not all accounted for.
with

file_ledger as (
    select * from {{ ref('recon_conservation_by_file') }}
),

final as (
    select * from file_ledger
    where not is_balanced
)

select * from final
