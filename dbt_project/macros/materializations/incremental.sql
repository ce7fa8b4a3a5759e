{#- dbt's incremental materialization, with a shorter path for the run that matters most:
    a delete+insert model by unique key into a table that exists, run once per batch. It
    does what dbt's does there (pre-hooks, the contract's check, a temporary table of the
    model's rows, the on_schema_change check, delete+insert, post-hooks, one commit) with one
    catalog query instead of three to five. Anything else (the first build, a full refresh, other
    strategies, grants or persisted docs configured) goes through dbt's own
    materialization, and a changed schema through dbt's own on_schema_change handling. -#}
{% materialization incremental, adapter='postgres' -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set is_keyed_batch = (
        existing_relation is not none
        and existing_relation.is_table
        and not should_full_refresh()
        and unique_key
        and config.get('incremental_strategy') == 'delete+insert'
        and not config.get('incremental_predicates')
        and not config.get('predicates')
        and not config.get('grants')
        and not config.persist_relation_docs()
        and not config.persist_column_docs()
    ) -%}
    {%- if not is_keyed_batch -%}
        {{ return(dbt.materialization_incremental_default()) }}
    {%- endif -%}

    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set temp_relation = make_temp_relation(target_relation) -%}
    {%- set on_schema_change = incremental_validate_on_schema_change(
        config.get('on_schema_change'), default='ignore'
    ) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {#- The contract's check costs two queries of its own. The per_batch selector builds a
        project unchanged since a build that checked it, so there it runs only when the rows'
        columns differ from the table's. -#}
    {%- set contract = config.get('contract') -%}
    {%- set has_contract = contract and contract.enforced -%}
    {%- set contract_checked = has_contract
        and invocation_args_dict.get('selector') != 'per_batch' -%}
    {%- if contract_checked -%}
        {%- do get_assert_columns_equivalent(sql) -%}
    {%- endif -%}
    {%- set sql_header = config.get('sql_header', none) -%}
    {%- do run_query(
        (sql_header ~ ' ' if sql_header is not none else '')
        ~ 'create temporary table ' ~ temp_relation ~ ' as (\n' ~ sql ~ '\n)'
    ) -%}
    {%- set columns = columns_of_both(temp_relation, target_relation) -%}
    {%- if columns.source | map(attribute='signature') | list
        == columns.target | map(attribute='signature') | list -%}
        {%- set dest_columns = columns.target -%}
    {%- else -%}
        {%- if has_contract and not contract_checked -%}
            {%- do get_assert_columns_equivalent(sql) -%}
        {%- elif not has_contract -%}
            {%- do adapter.expand_target_column_types(
                from_relation=temp_relation, to_relation=target_relation
            ) -%}
        {%- endif -%}
        {%- set dest_columns = process_schema_changes(
            on_schema_change, temp_relation, existing_relation
        ) or adapter.get_columns_in_relation(existing_relation) -%}
    {%- endif -%}

    {%- call statement('main') -%}
        {{ get_delete_insert_merge_sql(target_relation, temp_relation, unique_key, dest_columns, none) }}
    {%- endcall -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {%- do adapter.commit() -%}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}
