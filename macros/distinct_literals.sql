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
