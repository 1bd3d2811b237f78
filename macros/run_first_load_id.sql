{#- The first bronze load of this run, which scoped data tests check: the var
    `run_first_load_id` (set by `lakehouse dbt build` and the runner), else bronze's
    latest load. -#}
{% macro run_first_load_id() -%}
    {%- if var('run_first_load_id', none) is not none -%}
        {{ return(var('run_first_load_id') | int) }}
    {%- endif -%}
    {%- set bronze = source('bronze', 'bronze_capture_events') -%}
    {%- if execute -%}
        {%- set latest = run_query('select max(load_id) from ' ~ bronze).columns[0].values()[0] -%}
        {{ return(0 if latest is none else latest) }}
    {%- endif -%}
    {{ return(0) }}
{%- endmacro %}
