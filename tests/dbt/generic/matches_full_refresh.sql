{#- Gold is exact: the incrementally built table equals what a full refresh from
    silver computes, every row and column. Scoped to the run: the windows this run's
    bronze loads touched or made final (gold_window_events from the load before the
    run's first; the var `full_check: true` checks every window). The full refresh
    is computed here, apart from the models, with each model's select list. Fails with
    the differing rows. Give it `where: "true"`: it scopes itself. -#}
{% test matches_full_refresh(model, grain) %}

{%- set key = 'device_id' if grain == 'device' else 'site_id' %}
{%- set minutes = var('device_window_minutes') if grain == 'device' else var('site_window_minutes') %}
{%- set full = var('full_check', false) %}
{%- set scope = none if full else model %}
{%- set since = none if full else run_first_load() - 1 %}

with

bronze_loads as (

    select * from {{ ref('int_bronze_loads') }}

),

events as (

    {{ gold_window_events(ref('silver_telemetry'), key, minutes, scope, since) }}

),

full_refresh as (

    {% if grain == 'device' -%}
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
    {%- else -%}
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
    {%- endif %}
    from events
    -- a full refresh has no window without events (scoped, such a window comes with one empty row)
    where event_id is not null
    group by {{ key }}, window_start

),

built as (

    select * from {{ model }}
    where {{ 'true' if full else '(' ~ key ~ ', window_start) in (select ' ~ key ~ ', window_start from events)' }}

)

select 'missing_or_different' as diff, *
from (select * from full_refresh except select * from built) as a
union all
select 'unexpected_or_different' as diff, *
from (select * from built except select * from full_refresh) as b

{% endtest %}
