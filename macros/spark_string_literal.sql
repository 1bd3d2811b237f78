{#- A Spark SQL string literal of `value` (backslashes and quotes escaped), or a typed null. -#}
{% macro spark_string_literal(value) -%}
    {%- if value is none -%}
        cast(null as string)
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
