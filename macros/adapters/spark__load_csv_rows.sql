{#-
    Loads a seed's rows in one INSERT whose rows come from one string literal (a JSON
    array of rows, parsed by from_json): dbt-spark writes a VALUES list with a cast per
    value, which Spark's parser takes about ten seconds to read for the 10,000-row
    device registry; one literal parses in well under one. Each value is given as text
    and cast to its column's type (column_types, else the type dbt infers), as
    dbt-spark's casts do; an empty CSV value stays null. Other adapters get dbt-spark's.
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- if target.type != 'spark' -%}
        {{ return(dbt.spark__load_csv_rows(model, agate_table)) }}
    {%- endif -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set rows = [] -%}
    {%- for row in agate_table.rows -%}
        {%- set values = [] -%}
        {%- for value in row -%}
            {%- do values.append(none if value is none else value | string) -%}
        {%- endfor -%}
        {%- do rows.append(values) -%}
    {%- endfor -%}
    {%- set columns = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- set kind = column_override.get(name, adapter.convert_type(agate_table, loop.index0)) -%}
        {%- do columns.append('cast(r[' ~ loop.index0 ~ '] as ' ~ kind ~ ')') -%}
    {%- endfor -%}
    {%- set sql -%}
        insert into {{ this.render() }}
        select {{ columns | join(', ') }}
        from (select explode(from_json(__rows__, 'array<array<string>>')) as r)
    {%- endset -%}
    {%- do adapter.add_query(sql | replace('__rows__', spark_string_literal(tojson(rows))), abridge_sql_log=True) -%}
    {{ return(sql) }}
{% endmacro %}
