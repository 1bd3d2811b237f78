{#- Post-hook: keep `load_id` as the load the model has processed up to. Saved after
    the model's own commit: a crash between the two reprocesses loads the merge on
    the model's unique key has already applied, which changes nothing. -#}
{% macro save_processed_load_id(load_id) -%}
    alter table {{ this }} set tblproperties ('lakehouse.processed_load_id' = '{{ load_id }}')
{%- endmacro %}
