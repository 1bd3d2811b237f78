{#- The load id the model being built has processed up to, as save_processed_load_id()
    kept it in its Delta table's properties; -1 on a first or full run. For a model
    whose rows do not say which loads it has seen. -#}
{% macro saved_processed_load_id() -%}
    {{ return(saved_table_property('lakehouse.processed_load_id')) }}
{%- endmacro %}
