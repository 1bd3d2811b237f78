{#- The load id the model being built has processed up to, as save_processed_load_id()
    kept it in its Delta table's properties; -1 on a first or full run. For a model
    whose rows do not say which loads it has seen. -#}
{% macro saved_processed_load_id() -%}
    {%- if execute and is_incremental() -%}
        {%- for row in run_query('show tblproperties ' ~ this) -%}
            {%- if row[0] == 'lakehouse.processed_load_id' -%}
                {{ return(row[1] | int) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(-1) }}
{%- endmacro %}
