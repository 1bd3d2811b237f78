{#-
    Gold's window aggregates, from a relation of silver events. One definition,
    used by the incremental models (over the affected windows) and by the
    full-refresh invariant tests (over all of silver).
-#}

{#- Silver events, or in an incremental run only those in windows that got new
    silver rows since the last run, or whose finality the watermark flips. -#}
{% macro events_in_changed_windows(key, minutes) -%}
    select
        *,
        {{ window_start('event_time', minutes) }} as window_start
    from {{ ref('silver_telemetry') }}
    where {{ key }} is not null
    {%- if is_incremental() %}
        and ({{ key }}, {{ window_start('event_time', minutes) }}) in (
            select
                {{ key }},
                {{ window_start('event_time', minutes) }}
            from {{ ref('silver_telemetry') }}
            where loaded_at > (select max(silver_loaded_at) from {{ this }})
            union
            select
                {{ key }},
                window_start
            from {{ this }}
            where not is_final and window_end <= {{ event_time_watermark(ref('silver_telemetry')) }}
        )
    {%- endif %}
{%- endmacro %}

{% macro device_window_metrics(events, minutes) -%}
    select
        {{ window_metric_id('device_id', 'window_start') }} as metric_id,
        device_id,
        max_by(site_id, struct(event_time, event_id)) as site_id,
        window_start,
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0) as window_end,
        count(*) as event_count,
        {{ exact_avg('temperature_c') }} as temperature_c_avg,
        min(temperature_c) as temperature_c_min,
        max(temperature_c) as temperature_c_max,
        {{ exact_avg('humidity_pct') }} as humidity_pct_avg,
        {{ exact_avg('pressure_hpa') }} as pressure_hpa_avg,
        min(battery_pct) as battery_pct_min,
        max(event_time) as last_event_time,
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0)
        <= {{ event_time_watermark(ref('silver_telemetry')) }} as is_final,
        max(loaded_at) as silver_loaded_at
    from {{ events }}
    group by device_id, window_start
{%- endmacro %}

{% macro site_window_metrics(events, minutes) -%}
    select
        {{ window_metric_id('site_id', 'window_start') }} as metric_id,
        site_id,
        window_start,
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0) as window_end,
        count(distinct device_id) as device_count,
        count(*) as event_count,
        {{ exact_avg('temperature_c') }} as temperature_c_avg,
        min(temperature_c) as temperature_c_min,
        max(temperature_c) as temperature_c_max,
        {{ exact_avg('humidity_pct') }} as humidity_pct_avg,
        window_start + make_dt_interval(0, 0, {{ minutes }}, 0)
        <= {{ event_time_watermark(ref('silver_telemetry')) }} as is_final,
        max(loaded_at) as silver_loaded_at
    from {{ events }}
    group by site_id, window_start
{%- endmacro %}
