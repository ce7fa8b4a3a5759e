{#- Scoped generic tests: their cost follows the batch, not the history. The unique
    indexes, primary keys and the contract guard the rows of earlier runs.

    where: this_run          the rows this dbt invocation wrote (their invocation_id);
    where: this_run_batches  the landing rows of the batches no earlier invocation has
                             processed (the rows this build is about to read, or just read).

    The invocation id is resolved here, at run time: a where written with
    {{ invocation_id }} would be frozen when the project is parsed, and the scheduler
    reuses one parsed manifest for many runs. With --vars '{recon_full: true}', on a full
    refresh, and before the first build (no claims ledger yet) such tests check every row. -#}
{% macro default__get_where_subquery(relation) -%}
{%- set where = config.get('where', '') -%}
{%- if where in ['this_run', 'this_run_batches'] -%}
{%- set where = none if scoped_tests_disabled() else (
    'invocation_id = ' ~ current_invocation_id() if where == 'this_run'
    else in_subquery('load_batch_id', unprocessed_load_batches())
) -%}
{%- endif -%}
{%- if where -%}
{%- set filtered -%}
(select * from {{ relation }} where {{ where }}) as dbt_subquery
{%- endset -%}
{%- do return(filtered) -%}
{%- else -%}
{%- do return(relation) -%}
{%- endif -%}
{%- endmacro %}


{% macro scoped_tests_disabled() -%}
{%- set claims = graph.nodes['model.countonce.int_load_batches_processed'] -%}
{%- do return(
    var('recon_full') | string | lower in ['true', '1', 'yes']
    or flags.FULL_REFRESH
    or load_relation(api.Relation.create(
        database=claims.database, schema=claims.schema, identifier=claims.alias
    )) is none
) -%}
{%- endmacro %}


{% macro unprocessed_load_batches() -%}
{%- set claims = graph.nodes['model.countonce.int_load_batches_processed'] -%}
select batches.load_batch_id
from {{ graph.sources['source.countonce.shopflow.load_batches'].relation_name }} as batches
where not exists (
    select 1 as is_processed
    from {{ claims.relation_name }} as claimed
    where
        claimed.load_batch_id = batches.load_batch_id
        and claimed.invocation_id <> {{ current_invocation_id() }}
)
{%- endmacro %}
