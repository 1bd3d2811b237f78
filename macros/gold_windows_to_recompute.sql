{#- For the incremental gold model being built ({{ this }}), per `key` and window of
    `minutes`: the SQL of the windows to recompute (changed_windows() over the
    relations `silver`, `replaced` and {{ this }}, for the bronze loads after the newest
    one gold holds, with the watermarks of `loads` then and now as literals) and the
    silver hours they fall in, as literals. The model passes its ref()s: `silver`
    (silver_telemetry), `replaced` (int_silver_replaced_sends) and `loads`
    (int_bronze_loads). -#}
{% macro gold_windows_to_recompute(silver, replaced, loads, key, minutes) -%}
    {%- set since = processed_load_id('bronze_load_id') -%}
    {%- set watermark_then = watermark_literal(loads, since) -%}
    {%- set watermark_now = watermark_literal(loads) -%}
    {%- set windows_sql = changed_windows(
        silver, replaced, this, key, minutes, since, watermark_then, watermark_now
    ) -%}
    {{ return({'sql': windows_sql, 'hours': window_hours(windows_sql)}) }}
{%- endmacro %}
