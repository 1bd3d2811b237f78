{#- Post-hook: keep `value` in the model's Delta table property `name`
    (saved_table_property() reads it back). -#}
{% macro save_table_property(name, value) -%}
    alter table {{ this }} set tblproperties ('{{ name }}' = '{{ value }}')
{%- endmacro %}
