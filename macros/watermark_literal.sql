{#- event_time_watermark() of the loads up to `upto_load_id`, run now, as a SQL
    timestamp literal ('null' before any load), so Delta can skip files by it. -#}
{% macro watermark_literal(loads, upto_load_id=none) -%}
    {%- if not execute -%}{{ return('null') }}{%- endif -%}
    {%- set query = 'select cast(' ~ event_time_watermark(loads, upto_load_id) ~ ' as string)' -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return('null' if value is none else "timestamp'" ~ value ~ "'") }}
{%- endmacro %}
