{{ config(unique_key='restatement_id') }}

{#-
    Restatements of already-final gold windows: for each silver batch (one
    `dbt build`, identified by silver.loaded_at), the windows that were final
    before that batch (window_end <= the watermark of the batches before it) and
    already had events, yet received late events in it. Derived from silver
    alone, so it is exact after any sequence of runs.
-#}

{%- set grains = [
    ('gold_device_metrics_5m', 'device_id', var('device_window_minutes')),
    ('gold_site_metrics_1h', 'site_id', var('site_window_minutes')),
] %}

with

events as (

    select
        device_id,
        site_id,
        event_time,
        loaded_at
    from {{ ref('silver_telemetry') }}

),

batches as (

    select
        loaded_at as batch_loaded_at,
        max(event_time) as batch_max_event_time
    from events
    group by loaded_at

),

watermarks as (

    select
        batch_loaded_at,
        max(batch_max_event_time) over (
            order by batch_loaded_at rows between unbounded preceding and 1 preceding
        ) - make_dt_interval(0, 0, {{ var('watermark_delay_minutes') }}, 0) as watermark_before
    from batches

),

{%- for model_name, key, minutes in grains %}

{{ key }}_windows as (

    select
        {{ key }} as window_key,
        {{ window_start('event_time', minutes) }} as window_start,
        loaded_at
    from events
    where {{ key }} is not null

),

{{ key }}_first_loads as (

    select
        window_key,
        window_start,
        min(loaded_at) as first_loaded_at
    from {{ key }}_windows
    group by window_key, window_start

),

{{ key }}_restatements as (

    select
        '{{ model_name }}' as gold_model,
        w.window_key,
        w.window_start,
        w.window_start + make_dt_interval(0, 0, {{ minutes }}, 0) as window_end,
        w.loaded_at as restated_at,
        count(*) as late_event_count
    from {{ key }}_windows as w
    inner join watermarks
        on w.loaded_at = watermarks.batch_loaded_at
    inner join {{ key }}_first_loads as f
        on w.window_key = f.window_key and w.window_start = f.window_start
    where
        w.window_start + make_dt_interval(0, 0, {{ minutes }}, 0) <= watermarks.watermark_before
        and f.first_loaded_at < w.loaded_at
        and {{ loaded_since_last_run('w.loaded_at', 'restated_at') }}
    group by w.window_key, w.window_start, w.loaded_at

){{ "," if not loop.last }}
{%- endfor %}

select
    concat_ws('|', gold_model, window_key, cast(window_start as string), cast(restated_at as string)) as restatement_id,
    *
from (
    {%- for model_name, key, minutes in grains %}
    select * from {{ key }}_restatements
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
) as restatements
