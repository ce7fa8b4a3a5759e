{#-
    Commit-order-safe incremental processing by landing batch.

    raw.load_batches gets its row in the same transaction as the batch's landing rows, so a
    batch is visible exactly when its rows are. Each incremental consumer claims, in a
    pre-hook that runs inside its own transaction, every visible batch it has not claimed
    yet, then reads the rows of the batches it claimed in this invocation. The claim commits
    together with the consumer's output or not at all, so a failed run leaves its batches
    unclaimed for the next one, and a batch committed late (after higher landing sequences)
    is simply a batch not yet claimed: no landing-sequence watermark can skip it.

    `after` lists consumers that must have claimed (hence processed) a batch first.
-#}
{% macro claim_load_batches(consumer, after=[]) -%}
insert into {{ ref('int_load_batches_processed') }} (
    consumer, load_batch_id, invocation_id, processed_at
)
select
    '{{ consumer }}',
    batches.load_batch_id,
    {{ current_invocation_id() }},
    {{ dbt.current_timestamp() }}
from {{ ref('stg_shopflow__load_batches') }} as batches
where not {{ processed_by(consumer, 'batches.load_batch_id') }}
{%- for upstream in after %}
    and {{ processed_by(upstream, 'batches.load_batch_id') }}
{%- endfor %}
{%- endmacro %}


{#- True when `consumer` has claimed (hence processed) the batch `load_batch_id`. -#}
{% macro processed_by(consumer, load_batch_id) -%}
exists (
    select 1 as is_claimed
    from {{ ref('int_load_batches_processed') }} as claimed
    where claimed.consumer = '{{ consumer }}'
        and claimed.load_batch_id = {{ load_batch_id }}
)
{%- endmacro %}


{#- The batches a consumer works on in this invocation: those it just claimed, plus (with
    rescan) every batch that finished within the last rescan_minutes. -#}
{% macro claimed_load_batches(consumer, rescan=false) -%}
{%- set window_start = dbt.dateadd(
    'minute', -1 * var('rescan_minutes') | int, dbt.current_timestamp()
) -%}
select claimed.load_batch_id
from {{ ref('int_load_batches_processed') }} as claimed
where
    claimed.consumer = '{{ consumer }}'
    and claimed.invocation_id = {{ current_invocation_id() }}
{%- if rescan and var('rescan_minutes') | int > 0 %}
union
select recent.load_batch_id
from {{ ref('stg_shopflow__load_batches') }} as recent
where recent.finished_at >= {{ window_start }}
{%- endif %}
{%- endmacro %}


{#- Row filter of an incremental consumer: only rows of the batches it works on in this
    invocation; every row on a full refresh. -#}
{% macro claimed_batch_filter(consumer, rescan=false) -%}
{%- if is_incremental() -%}
{{ in_subquery('load_batch_id', claimed_load_batches(consumer, rescan)) }}
{%- else -%}
true
{%- endif -%}
{%- endmacro %}
