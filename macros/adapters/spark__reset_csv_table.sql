{#- A seed reload keeps the table registered: spark__create_csv_table replaces it
    (dropping an external table first would leave its rows to be adopted again). -#}
{% macro spark__reset_csv_table(model, full_refresh, old_relation, agate_table) -%}
    {{ return(create_csv_table(model, agate_table)) }}
{%- endmacro %}
