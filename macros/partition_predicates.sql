{#- `cast(DBT_INTERNAL_DEST.<column> as string) in (...)` for each `partition_by`
    column of the model being built, listing the values found in `source` (cached
    first); `false` when the source has no rows; none without `partition_by`. -#}
{% macro partition_predicates(source) -%}
    {%- set columns = config.get('partition_by') or [] -%}
    {%- set columns = [columns] if columns is string else columns -%}
    {%- set predicates = [] -%}
    {%- if columns and execute -%}
        {%- do run_query('cache table ' ~ source) -%}
        {%- for column in columns -%}
            {%- do predicates.append(in_literals('DBT_INTERNAL_DEST.' ~ column, distinct_literals(source, column))) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(predicates) }}
{%- endmacro %}
