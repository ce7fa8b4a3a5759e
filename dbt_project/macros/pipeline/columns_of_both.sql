{#- The columns of two relations in one catalog query, in table order:
    {'source': [...], 'target': [...]}, each column with `name` and a `signature` (name and
    full type) to compare them by. -#}
{% macro columns_of_both(source_relation, target_relation) -%}
{{ return(adapter.dispatch('columns_of_both')(source_relation, target_relation)) }}
{%- endmacro %}

{% macro default__columns_of_both(source_relation, target_relation) -%}
{%- set both = {'source': [], 'target': []} -%}
{%- for side, relation in [('source', source_relation), ('target', target_relation)] -%}
{%- for column in adapter.get_columns_in_relation(relation) -%}
{%- do both[side].append({
    'name': column.name, 'signature': column.name ~ ' ' ~ column.data_type
}) -%}
{%- endfor -%}
{%- endfor -%}
{{ return(both) }}
{%- endmacro %}

{% macro postgres__columns_of_both(source_relation, target_relation) -%}
{%- set source_oid = regclass_literal(source_relation) -%}
{%- set query -%}
select
    attribute.attname as column_name,
    format_type(attribute.atttypid, attribute.atttypmod) as data_type,
    case when attribute.attrelid = {{ source_oid }} then 'source' else 'target' end as side
from pg_catalog.pg_attribute as attribute
where
    attribute.attrelid in ({{ source_oid }}, {{ regclass_literal(target_relation) }})
    and attribute.attnum > 0
    and not attribute.attisdropped
order by side, attribute.attnum
{%- endset -%}
{%- set both = {'source': [], 'target': []} -%}
{%- for row in run_query(query) -%}
{%- do both[row['side']].append({
    'name': row['column_name'],
    'signature': row['column_name'] ~ ' ' ~ row['data_type'],
}) -%}
{%- endfor -%}
{{ return(both) }}
{%- endmacro %}

{% macro regclass_literal(relation) -%}
'{{ relation.render() | replace("'", "''") }}'::regclass
{%- endmacro %}
