{#- This dbt invocation as a SQL literal; a macro so unit tests can pin it. -#}
{% macro current_invocation_id() -%}
'{{ invocation_id }}'
{%- endmacro %}
