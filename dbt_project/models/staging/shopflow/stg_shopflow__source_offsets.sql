with

source as (
    select * from {{ source('shopflow', 'source_offsets') }}
),

final as (
    select
        source_file,
        byte_offset,
        line_number,
        pending_bytes,
        updated_at
    from source
)

select * from final
