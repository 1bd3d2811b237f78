{{ config(partition_by=['window_hour']) }}

-- depends_on: {{ ref('int_silver_replaced_sends') }}

{#- Per device and tumbling window (var device_window_minutes, epoch-aligned UTC).
    An incremental run (configured for the gold folder in dbt_project.yml)
    recomputes, whole, exactly the windows that received silver rows of newer
    bronze loads, that silver rows an earlier send replaced in them left
    (int_silver_replaced_sends), or that became final, reading only their hours of
    silver (gold_window_events, macros/windows.sql), and merges them into their hour
    partitions; a window left with no event comes out with event_count 0 and the
    merge deletes it. -#}

{%- set minutes = var('device_window_minutes') %}

with

bronze_loads as (

    select * from {{ ref('int_bronze_loads') }}

),

events as (

    {{ gold_window_events(ref('silver_telemetry'), 'device_id', minutes) }}

),

final as (

    {#- One row per device and window; its site is that of its latest event. #}
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
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0)
        <= {{ event_time_watermark('bronze_loads') }} as is_final,
        max(bronze_load_id) as bronze_load_id,
        date_trunc('hour', window_start) as window_hour
    from events
    group by device_id, window_start

)

select * from final
