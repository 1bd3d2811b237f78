{#- The earliest enqueued time in `relation` (optionally `where`) minus the dedupe
    horizon and the latest plus it, as two SQL timestamp literals; none when it has no
    rows. -#}
{% macro enqueued_span(relation, where=none) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set query -%}
        select
            cast(min(enqueued_at) - {{ dedupe_horizon() }} as string),
            cast(max(enqueued_at) + {{ dedupe_horizon() }} as string)
        from {{ relation }}
        {%- if where %}
        where {{ where }}
        {%- endif %}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- if row[0] is none -%}{{ return(none) }}{%- endif -%}
    {{ return(["timestamp'" ~ row[0] ~ "'", "timestamp'" ~ row[1] ~ "'"]) }}
{%- endmacro %}
