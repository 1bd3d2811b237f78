{#- The newest load id in `loads` (int_bronze_loads), -1 when there is none. -#}
{% macro latest_load_id(loads) -%}
    {%- if not execute -%}{{ return(-1) }}{%- endif -%}
    {%- set latest = run_query('select max(bronze_load_id) from ' ~ loads).columns[0].values()[0] -%}
    {{ return(-1 if latest is none else latest) }}
{%- endmacro %}
