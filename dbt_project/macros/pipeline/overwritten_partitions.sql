{#- Where a model is written by overwriting whole partitions (insert_overwrite: Spark, whose
    parquet tables cannot delete rows), its rows must be every row of each partition it
    writes: the rows it computed, and the rows of those partitions it did not replace. Where
    it is written by key (delete+insert: PostgreSQL), its computed rows are enough: this adds
    nothing.

    columns: the model's columns in the order of its final select; partition_by: its
    partition column; changed: the CTE of the computed rows; replaced: a CTE holding the
    replaced_by columns of every row being replaced (by default the computed rows' own). A
    partition is written when a computed row lands in it or a replaced row is taken out of
    it. -#}
{% macro unchanged_rows_of_overwritten_partitions(
    columns, partition_by, replaced_by, changed='final', replaced=none
) -%}
{%- if is_incremental() and overwrites_partitions() -%}
{%- set replaced = replaced or changed -%}
{%- set same_key -%}
{%- for column in replaced_by %} replaced_rows.{{ column }} = existing.{{ column }}
{%- if not loop.last %} and{% endif %}{% endfor -%}
{%- endset %}
union all
select {% for column in columns %}existing.{{ column }}{{ ", " if not loop.last }}{% endfor %}
from {{ this }} as existing
where
    existing.{{ partition_by }} in (
        select written.{{ partition_by }} from {{ changed }} as written
        union
        select moved.{{ partition_by }} from {{ this }} as moved
        where exists (
            select 1 as is_replaced from {{ replaced }} as replaced_rows
            where {{ same_key | replace('existing.', 'moved.') }}
        )
    )
    and not exists (
        select 1 as is_replaced from {{ replaced }} as replaced_rows
        where {{ same_key }}
    )
{%- endif -%}
{%- endmacro %}
