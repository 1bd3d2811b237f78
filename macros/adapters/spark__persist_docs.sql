{#-
    persist_docs on Delta tables, with one metadata query: dbt-spark lists the table's
    columns (DESCRIBE EXTENDED) to leave out documented columns the table lacks, and
    then spark__alter_column_comment reads them again with their comments (DESCRIBE
    TABLE); here the comment macro alone reads them once and leaves those out itself.
    Table comments are set when a table is created (dbt-spark's comment clause).
-#}
{% macro spark__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- if target.type != 'spark' or config.get('file_format', validator=validation.any[basestring]) != 'delta' -%}
        {%- do return(dbt.spark__persist_docs(relation, model, for_relation, for_columns)) -%}
    {%- endif -%}
    {%- if for_columns and config.persist_column_docs() and model.columns -%}
        {%- do alter_column_comment(relation, model.columns) -%}
    {%- endif -%}
{%- endmacro %}
