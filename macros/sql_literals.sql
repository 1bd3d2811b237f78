{#- SQL literals rendered at compile time, which let Delta prune partitions and skip
    files (a subquery would not). Holds: distinct_literals, in_literals,
    spark_string_literal, same_sql_text. -#}

{#- The distinct non-null values of `expression` in `relation` (optionally `where`),
    as quoted strings, sorted: compare them with `cast(<column> as string)`. Literal
    values let Delta prune partitions (a subquery would not). -#}
{% macro distinct_literals(relation, expression, where=none) -%}
    {%- set query -%}
        select distinct cast({{ expression }} as string) as value
        from {{ relation }}
        where {{ expression }} is not null{% if where %} and ({{ where }}){% endif %}
    {%- endset -%}
    {%- set literals = [] -%}
    {%- if execute -%}
        {%- for value in run_query(query).columns[0].values() | sort -%}
            {%- do literals.append("'" ~ value ~ "'") -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(literals) }}
{%- endmacro %}

{#- `cast(<column> as string) in (<literals>)`, or `false` for an empty list. -#}
{% macro in_literals(column, literals) -%}
    {{ return('cast(' ~ column ~ ' as string) in (' ~ literals | join(', ') ~ ')' if literals else 'false') }}
{%- endmacro %}

{#- A Spark SQL string literal of `value` (backslashes and quotes escaped), or a typed null. -#}
{% macro spark_string_literal(value) -%}
    {%- if value is none -%}
        cast(null as string)
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}

{#- Whether two SQL expressions have the same text but for case and whitespace (Delta
    keeps a CHECK constraint's expression re-spaced). -#}
{% macro same_sql_text(a, b) -%}
    {{ return(modules.re.sub('\\s+', '', a | lower) == modules.re.sub('\\s+', '', b | lower)) }}
{%- endmacro %}
