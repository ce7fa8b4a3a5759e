-- Fails with every (minute, currency) where the fact differs from the independent
-- recomputation from landing (or exists on one side only).
with

reconciliation as (
    select * from {{ ref('recon_revenue_1m') }}
),

final as (
    select * from reconciliation
    where not is_match
)

select * from final
