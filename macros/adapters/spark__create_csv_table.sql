{#-
    Seeds are external Delta tables under the lake root (`+location_root` in
    dbt_project.yml), like every other table, so a lake copied to another folder
    holds them too. dbt-spark reloads a seed by dropping the table and creating it
    again, which for an external table would adopt the old files at its location:
    this replaces the registered table instead (`create or replace`, with
    spark__reset_csv_table not dropping it), so a reload replaces the rows.
-#}
{% macro spark__create_csv_table(model, agate_table) -%}
    {%- set column_types = model['config'].get('column_types', {}) -%}
    {%- set quote_columns = model['config'].get('quote_columns', none) -%}
    {%- set columns = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- set kind = column_types.get(name, adapter.convert_type(agate_table, loop.index0)) -%}
        {%- do columns.append(adapter.quote_seed_column(name | string, quote_columns) ~ ' ' ~ kind) -%}
    {%- endfor -%}
    {%- set sql -%}
        create or replace table {{ this.render() }} ({{ columns | join(', ') }})
        {{ file_format_clause() }}
        {{ location_clause() }}
        {{ comment_clause() }}
    {%- endset -%}
    {%- call statement('_') -%}
        {{ sql }}
    {%- endcall -%}
    {{ return(sql) }}
{%- endmacro %}
