{{ config(partition_by=['window_date']) }}

-- depends_on: {{ ref('int_silver_replaced_sends') }}

{#- Per site and tumbling window (var site_window_minutes, epoch-aligned UTC).
    Recomputed whole per window, so distinct device counts stay exact. An
    incremental run recomputes the windows gold_device_metrics_5m's does (per site,
    gold_window_events, macros/windows.sql) and deletes those left with no event. -#}

{%- set minutes = var('site_window_minutes') %}

with

bronze_loads as (

    select * from {{ ref('int_bronze_loads') }}

),

events as (

    {#- Events whose site is unknown (not in the body, device not in the registry)
        are in silver and device metrics but belong to no site window. #}
    {{ gold_window_events(ref('silver_telemetry'), 'site_id', minutes) }}

),

final as (

    select
        {{ window_metric_id('site_id', 'window_start') }} as metric_id,
        site_id,
        window_start,
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0) as window_end,
        count(distinct device_id) as device_count,
        count(event_id) as event_count,
        {{ exact_avg('temperature_c') }} as temperature_c_avg,
        min(temperature_c) as temperature_c_min,
        max(temperature_c) as temperature_c_max,
        {{ exact_avg('humidity_pct') }} as humidity_pct_avg,
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0)
        <= {{ event_time_watermark('bronze_loads') }} as is_final,
        max(bronze_load_id) as bronze_load_id,
        to_date(window_start) as window_date
    from events
    group by site_id, window_start

)

select * from final
