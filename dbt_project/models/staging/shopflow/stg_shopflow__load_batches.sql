with

source as (
    select * from {{ source('shopflow', 'load_batches') }}
),

final as (
    select
        load_batch_id,
        source_file,
        first_line,
        last_line,
        lines_read,
        rows_landed,
        rows_rejected as lines_rejected_at_load,
        started_at,
        finished_at
    from source
)

select * from final
