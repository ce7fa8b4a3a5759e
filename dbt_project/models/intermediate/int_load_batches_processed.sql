{#- The claims ledger: which consumer model has processed which landing batch. Building
    this model never adds rows; they are written only by claim_load_batches, in the pre-hook
    of each consumer, inside that consumer's transaction. A full refresh empties it, so the
    consumers then reprocess every batch. -#}
{{
    config(
        tags=['built_once'],
        indexes=[
            {'columns': ['consumer', 'load_batch_id'], 'unique': True},
            {'columns': ['invocation_id']},
        ],
    )
}}

with

final as (
    select
        cast(null as {{ dbt.type_string() }}) as consumer,
        cast(null as {{ dbt.type_bigint() }}) as load_batch_id,
        cast(null as {{ dbt.type_string() }}) as invocation_id,
        cast(null as {{ type_timestamp_utc() }}) as processed_at
)

select * from final
where 1 = 0
