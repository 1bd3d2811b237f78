{#- The integer the model being built keeps in its Delta table property `name`
    (save_table_property()); -1 on a first or full run, or when it has none. -#}
{% macro saved_table_property(name) -%}
    {%- if execute and is_incremental() -%}
        {%- for row in run_query('show tblproperties ' ~ this) -%}
            {%- if row[0] == name -%}
                {{ return(row[1] | int) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(-1) }}
{%- endmacro %}
