{#- Every valid landed copy that is not the kept copy of its (order_id, event_id). A copy
    arriving more than lookback_minutes after the kept copy is a late duplicate, reported
    as such; however late it comes, the keyed deduplicated history catches it.

    Each run recomputes the duplicates of the batches in its scope, and the copies its
    scope's kept events superseded (a copy committed late with a lower landing_seq replaced
    them), and overwrites them by landing_seq: processing a batch again writes the same rows. -#}
{{
    config(
        unique_key='landing_seq',
        partition_by=['load_batch_id'],
        indexes=key_indexes([
            {'columns': ['landing_seq'], 'unique': True},
            {'columns': ['load_batch_id']},
            {'columns': ['order_id', 'event_id']},
            {'columns': ['event_minute']},
        ]),
    )
}}
-- depends_on: {{ ref('int_load_batches_unprocessed') }}
{#- The columns a copy keeps: the landed record, most of a row's width, stays behind. -#}
{%- set copy_columns = [
    'landing_seq', 'order_id', 'event_id', 'event_type', 'event_at', 'event_minute',
    'amount', 'currency', 'customer_id', 'load_batch_id', 'source_file', 'source_line',
    'loaded_at',
] %}
{%- set columns = copy_columns + [
    'kept_landing_seq', 'is_late_duplicate', 'detected_at', 'invocation_id',
] %}

with

{% if is_incremental() %}

-- A kept copy carries its own landing batch, so the copies of the scope that the history
-- did not keep are the scope's rows less the history's rows of the same batches: two
-- lookups by load_batch_id, found before any JSON is read, so the contract is evaluated
-- for those rows only, not the whole batch.
copies_not_kept as (
    select landed.landing_seq
    from {{ ref('stg_shopflow__order_events') }} as landed
    where {{ in_run_scope('landed.load_batch_id') }}
    except
    select kept.landing_seq
    from {{ ref('int_order_events_deduplicated') }} as kept
    where {{ in_run_scope('kept.load_batch_id') }}
),

superseded_copies as (
    select kept.superseded_landing_seq as landing_seq
    from {{ ref('int_order_events_deduplicated') }} as kept
    where
        {{ in_run_scope('kept.load_batch_id') }}
        and kept.superseded_landing_seq is not null
),

candidate_seqs as (
    select copies_not_kept.landing_seq from copies_not_kept
    union
    select superseded_copies.landing_seq from superseded_copies
),

candidate_copies as (
    select {{ copy_columns | join(', ') }}
    from {{ ref('stg_shopflow__order_events') }}
    where
        reject_reason is null
        and {{ in_subquery(
            'landing_seq', 'select candidate_seqs.landing_seq from candidate_seqs'
        ) }}
),
{% else %}

candidate_copies as (
    select {{ copy_columns | join(', ') }}
    from {{ ref('stg_shopflow__order_events') }}
    where reject_reason is null
),
{% endif %}

kept_events as (
    select * from {{ ref('int_order_events_deduplicated') }}
),

duplicates as (
    select
        candidate_copies.*,
        kept_events.landing_seq as kept_landing_seq,
        kept_events.loaded_at as kept_loaded_at
    from candidate_copies
    inner join kept_events
        on
            candidate_copies.order_id = kept_events.order_id
            and candidate_copies.event_id = kept_events.event_id
    where candidate_copies.landing_seq <> kept_events.landing_seq
),

final as (
    select
        landing_seq,
        order_id,
        event_id,
        event_type,
        event_at,
        event_minute,
        amount,
        currency,
        customer_id,
        load_batch_id,
        source_file,
        source_line,
        loaded_at,
        kept_landing_seq,
        coalesce(
            loaded_at > {{ add_time(
                'minute', var('lookback_minutes') | int, 'kept_loaded_at'
            ) }},
            false
        ) as is_late_duplicate,
        {{ dbt.current_timestamp() }} as detected_at,
        {{ current_invocation_id() }} as invocation_id
    from duplicates
)

select * from final
{{ unchanged_rows_of_overwritten_partitions(
    columns, 'load_batch_id', replaced_by=['landing_seq']
) }}
