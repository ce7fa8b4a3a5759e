{#- What each dbt invocation did: one row per invocation. -#}
{{
    config(
        materialized='incremental',
        unique_key='invocation_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['invocation_id'], 'unique': True}],
    )
}}

with

scanned_batches as (
    select
        count(*) as batch_count,
        coalesce(sum(rows_landed), 0) as row_count
    from {{ ref('stg_shopflow__load_batches') }}
    where load_batch_id in (
        {{ claimed_load_batches('int_order_events_deduplicated', rescan=true) }}
    )
),

new_batches as (
    select count(*) as batch_count
    from {{ ref('int_load_batches_processed') }}
    where
        consumer = 'int_order_events_deduplicated'
        and invocation_id = {{ current_invocation_id() }}
),

kept_events as (
    select
        count(*) as row_count,
        count(superseded_landing_seq) as superseding_count
    from {{ ref('int_order_events_deduplicated') }}
    where invocation_id = {{ current_invocation_id() }}
),

duplicates as (
    select
        count(*) as row_count,
        coalesce(sum(case when is_late_duplicate then 1 else 0 end), 0) as late_count
    from {{ ref('int_order_event_duplicates') }}
    where invocation_id = {{ current_invocation_id() }}
),

conflicts as (
    select count(*) as row_count
    from {{ ref('int_order_event_conflicts') }}
    where invocation_id = {{ current_invocation_id() }}
),

rejected_events as (
    select count(*) as row_count
    from {{ ref('int_order_events_rejected') }}
    where invocation_id = {{ current_invocation_id() }}
),

recomputed_minutes as (
    select count(*) as row_count
    from {{ ref('fact_revenue_1m') }}
    where invocation_id = {{ current_invocation_id() }}
),

final as (
    select
        {{ current_invocation_id() }} as invocation_id,
        cast('{{ run_started_at }}' as {{ type_timestamp_utc() }}) as run_started_at,
        {{ 'true' if flags.FULL_REFRESH else 'false' }} as is_full_refresh,
        new_batches.batch_count as new_load_batches,
        scanned_batches.batch_count as scanned_load_batches,
        cast(scanned_batches.row_count as {{ dbt.type_bigint() }}) as rows_scanned,
        kept_events.row_count as rows_kept,
        kept_events.superseding_count as rows_kept_superseding,
        duplicates.row_count as duplicates,
        cast(duplicates.late_count as {{ dbt.type_bigint() }}) as late_duplicates,
        conflicts.row_count as conflicts,
        rejected_events.row_count as rejects,
        recomputed_minutes.row_count as fact_rows_recomputed,
        {{ dbt.current_timestamp() }} as recorded_at
    from scanned_batches
    cross join new_batches
    cross join kept_events
    cross join duplicates
    cross join conflicts
    cross join rejected_events
    cross join recomputed_minutes
)

select * from final
