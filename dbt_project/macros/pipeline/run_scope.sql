{#- The batch run's scope: the committed landing batches not yet recorded as processed
    (int_load_batches_unprocessed, taken once at the start of each build).

    Row filter of an incremental model: only the rows of those batches; every row when the
    model is built in full (first build, full refresh). -#}
{% macro in_run_scope(column='load_batch_id') -%}
{#- Rendered even when unused, so that parsing (where is_incremental() is false) records
    the model's dependency on the scope; a model that calls this only inside an incremental
    block says `-- depends_on: {{ ref('int_load_batches_unprocessed') }}` instead. -#}
{%- set run_batches = run_batch_ids() -%}
{%- if is_incremental() -%}
{{ in_subquery(column, run_batches) }}
{%- else -%}
true
{%- endif -%}
{%- endmacro %}


{% macro run_batch_ids() -%}
select run_batches.load_batch_id from {{ ref('int_load_batches_unprocessed') }} as run_batches
{%- endmacro %}
