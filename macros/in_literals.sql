{#- `cast(<column> as string) in (<literals>)`, or `false` for an empty list. -#}
{% macro in_literals(column, literals) -%}
    {{ return('cast(' ~ column ~ ' as string) in (' ~ literals | join(', ') ~ ')' if literals else 'false') }}
{%- endmacro %}
