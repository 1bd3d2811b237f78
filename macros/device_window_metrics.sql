{#- Device metrics per window of `minutes` from `events` (window_events()), final when
    the window ends at or before the watermark of `loads` (int_bronze_loads). Given
    `windows` (the windows an incremental run recomputes), one row per window, with
    event_count 0 for a window no event is left in (the merge deletes it). -#}
{% macro device_window_metrics(events, loads, minutes, windows=none) -%}
    select
        {{ window_metric_id('device_id', 'window_start') }} as metric_id,
        device_id,
        max_by(site_id, struct(event_time, event_id)) as site_id,
        window_start,
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0) as window_end,
        count(event_id) as event_count,
        {{ exact_avg('temperature_c') }} as temperature_c_avg,
        min(temperature_c) as temperature_c_min,
        max(temperature_c) as temperature_c_max,
        {{ exact_avg('humidity_pct') }} as humidity_pct_avg,
        {{ exact_avg('pressure_hpa') }} as pressure_hpa_avg,
        min(battery_pct) as battery_pct_min,
        max(event_time) as last_event_time,
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0) <= {{ event_time_watermark(loads) }} as is_final,
        max(bronze_load_id) as bronze_load_id,
        date_trunc('hour', window_start) as window_hour
    {%- if windows is none %}
    from {{ events }}
    {%- else %}
    from (select window_key as device_id, window_start from {{ windows }}) as windows
    left join {{ events }} using (device_id, window_start)
    {%- endif %}
    group by device_id, window_start
{%- endmacro %}
