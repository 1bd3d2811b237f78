{#- Whether two SQL expressions have the same text but for case and whitespace (Delta
    keeps a CHECK constraint's expression re-spaced). -#}
{% macro same_sql_text(a, b) -%}
    {{ return(modules.re.sub('\\s+', '', a | lower) == modules.re.sub('\\s+', '', b | lower)) }}
{%- endmacro %}
