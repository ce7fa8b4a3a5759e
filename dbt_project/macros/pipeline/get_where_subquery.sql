{#- A generic test configured with `where: this_run` checks only the rows that this dbt
    invocation wrote (their invocation_id), so its cost follows the batch, not the history;
    the unique indexes and the contract guard the rows of earlier runs. The invocation id is
    resolved here, at run time: a where written with {{ invocation_id }} would be frozen when
    the project is parsed, and the scheduler reuses one parsed manifest for many runs.
    With --vars '{recon_full: true}' such tests check every row. -#}
{% macro default__get_where_subquery(relation) -%}
{%- set where = config.get('where', '') -%}
{%- if where == 'this_run' -%}
{%- set where = none if var('recon_full') | string | lower in ['true', '1', 'yes']
    else 'invocation_id = ' ~ current_invocation_id() -%}
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
