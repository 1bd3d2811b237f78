{#-
    Table statistics for the docs site. dbt-spark's catalog (`dbt docs generate`) reads
    a Delta table's columns with this macro (DESCRIBE EXTENDED) and the table's
    statistics from its `Statistics` row, which open-source Delta never fills in. So,
    during `docs generate` only, that row is added from Delta itself: rows (count(*),
    which Delta answers from its log's file statistics without reading data), bytes
    and files (DESCRIBE DETAIL) and the table's version (DESCRIBE HISTORY). Every other
    command, and other adapters (dbt-databricks reads its own catalog), get dbt-spark's
    macro unchanged.
-#}
{% macro spark__get_columns_in_relation_raw(relation) -%}
    {%- set described = dbt.spark__get_columns_in_relation_raw(relation) -%}
    {%- set provider = [] -%}
    {%- for row in described.rows if row[0] == 'Provider' -%}
        {%- do provider.append(row[1] | lower) -%}
    {%- endfor -%}
    {%- if flags.WHICH != 'generate' or target.type != 'spark' or provider != ['delta'] -%}
        {{ return(described) }}
    {%- endif -%}
    {%- set detail = run_query('describe detail ' ~ relation).rows[0] -%}
    {%- set version = run_query('describe history ' ~ relation ~ ' limit 1').columns['version'].values()[0] -%}
    {%- set row_count = run_query('select count(*) from ' ~ relation).rows[0][0] -%}
    {%- set statistics = [
        detail['sizeInBytes'] ~ ' bytes',
        row_count ~ ' rows',
        detail['numFiles'] ~ ' files',
        version ~ ' version',
    ] -%}
    {%- set values = [] -%}
    {%- for row in described.rows -%}
        {%- do values.append('(' ~ spark_string_literal(row[0]) ~ ', ' ~ spark_string_literal(row[1]) ~ ', '
                             ~ spark_string_literal(row[2]) ~ ')') -%}
    {%- endfor -%}
    {%- do values.append("('Statistics', '" ~ statistics | join(', ') ~ "', '')") -%}
    {{ return(run_query('select * from values ' ~ values | join(', ') ~ ' as t(col_name, data_type, comment)')) }}
{%- endmacro %}
