with

source as (
    select * from {{ source('countonce', 'processed_batches') }}
),

final as (
    select
        load_batch_id,
        run_id,
        processed_at
    from source
)

select * from final
