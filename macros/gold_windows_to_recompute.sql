{#- For the incremental gold model being built ({{ this }}): the SQL of the windows
    to recompute (changed_windows() over the CTEs `silver`, from the loads after
    the newest one gold holds) and the silver hours they fall in, as literals. -#}
{% macro gold_windows_to_recompute(key, minutes) -%}
    {%- set since = processed_load_id('bronze_load_id') -%}
    {%- set loads = ref('int_bronze_loads') -%}
    {%- set watermark_then = watermark_literal(loads, since) -%}
    {%- set watermark_now = watermark_literal(loads) -%}
    {%- set hours = window_hours(changed_windows(ref('silver_telemetry'), this, key, minutes, since, watermark_then, watermark_now)) -%}
    {{ return({
        'sql': changed_windows('silver', this, key, minutes, since, watermark_then, watermark_now),
        'hours': hours,
    }) }}
{%- endmacro %}
