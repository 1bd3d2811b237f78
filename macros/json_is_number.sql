{#- Whether a JSON field is a number. `type_column` holds the field's JSON type as
    schema_of_variant names it: BIGINT, DOUBLE, DECIMAL(p,s), STRING, BOOLEAN,
    OBJECT<...>, ARRAY<...>; VOID for JSON null; null when the field is absent. -#}
{% macro json_is_number(type_column) -%}
    (
        {{ type_column }} in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE')
        or {{ type_column }} like 'DECIMAL%'
    )
{%- endmacro %}
