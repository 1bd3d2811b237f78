{#- Whether a JSON field is an integer (`type_column`: its type as schema_of_variant
    names it, see json_is_number). -#}
{% macro json_is_integer(type_column) -%}
    {{ type_column }} in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT')
{%- endmacro %}
