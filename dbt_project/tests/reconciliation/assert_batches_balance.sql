-- Fails with every landing batch whose rows are not all accounted for.
with

batch_ledger as (
    select * from {{ ref('recon_conservation_by_batch') }}
),

final as (
    select * from batch_ledger
    where not is_balanced
)

select * from final
