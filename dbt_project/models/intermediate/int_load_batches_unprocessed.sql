{#- The batch run's scope: every committed landing batch not yet recorded as processed in
    ops.processed_batches, taken once at the start of a build (every other model reads this
    table, not landing's batches, so a batch committed during the build waits for the next
    one). A batch committed late, after batches with higher landing sequences, is simply not
    recorded yet: no watermark can skip it. A run records its scope as processed only after
    everything it wrote, its checks included, succeeded; a run that dies leaves its scope
    here for the next build, which processes it again, harmlessly: every model overwrites
    whole keys.

    Its rows are replaced in place, never the table (the views that read it would go with
    it): deleted then appended where rows can be deleted, the whole table overwritten on
    Spark. -#}
{{
    config(
        pre_hook="{{ delete_all_rows(this) }}",
    )
}}

with

load_batches as (
    select * from {{ ref('stg_shopflow__load_batches') }}
),

processed_batches as (
    select * from {{ ref('stg_countonce__processed_batches') }}
),

unprocessed_batches as (
    select load_batches.*
    from load_batches
    left join processed_batches
        on load_batches.load_batch_id = processed_batches.load_batch_id
    where processed_batches.load_batch_id is null
),

final as (
    select
        load_batch_id,
        source_file,
        rows_landed,
        finished_at,
        cast({{ current_invocation_id() }} as {{ dbt.type_string() }}) as invocation_id,
        {{ dbt.current_timestamp() }} as selected_at
    from unprocessed_batches
)

select * from final
