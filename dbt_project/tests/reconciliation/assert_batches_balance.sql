-- Fails with every landing batch of the current run whose rows are not all accounted for,
-- each exactly once.
with

batch_ledger as (
    select * from {{ ref('recon_conservation_by_batch') }}
    where {{ in_subquery('load_batch_id', run_batch_ids()) }}
),

final as (
    select * from batch_ledger
    where not is_balanced
)

select * from final
