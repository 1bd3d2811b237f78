{#- Whether a JSON field is absent, or present as JSON null (`type_column`: its type
    as schema_of_variant names it, see json_is_number). -#}
{% macro json_is_missing(type_column) -%}
    coalesce({{ type_column }} = 'VOID', true)
{%- endmacro %}
