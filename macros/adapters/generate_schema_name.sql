{#- Layers get their own schema named for the layer (bronze, silver, gold), not
    <target schema>_<layer>: the lake's folders and the catalog read the same. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
