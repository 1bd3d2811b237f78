{{
    config(
        unique_key='restatement_id',
        post_hook="{{ save_loads_processed(loads_processed_by(ref('int_bronze_loads'))) }}",
    )
}}

{#-
    Restatements of already-final gold windows: for each bronze load, the windows
    that were final before it (window_end <= the watermark of the loads before it)
    and already had events, yet received late events in it. Derived from silver
    alone, so it is exact after any sequence of runs. An incremental run reads the
    silver rows of the loads it has not processed (kept in a table property, since
    most loads restate nothing: macros/load_watermarks.sql) and the hours they fall
    in.
-#}

{%- set since = loads_processed_by(this, kept_in='tblproperties') if is_incremental() else -1 %}
{%- set upto = loads_processed_by(ref('int_bronze_loads')) %}
{%- set new_rows = 'bronze_load_id > ' ~ since ~ ' and bronze_load_id <= ' ~ upto %}
{%- set grains = [
    ('gold_device_metrics_5m', 'device_id', var('device_window_minutes')),
    ('gold_site_metrics_1h', 'site_id', var('site_window_minutes')),
] %}

with

silver as (

    select
        device_id,
        site_id,
        event_time,
        event_hour,
        bronze_load_id
    from {{ ref('silver_telemetry') }}
    {%- if since >= 0 %}
    where {{ in_literals('event_hour', distinct_literals(ref('silver_telemetry'), 'event_hour', new_rows)) }}
    {%- endif %}

),

bronze_loads as (

    select * from {{ ref('int_bronze_loads') }}

),

watermarks as (

    select
        bronze_load_id,
        max(max_event_time) over (
            order by bronze_load_id rows between unbounded preceding and 1 preceding
        ) - make_dt_interval(0, 0, {{ var('watermark_delay_minutes') }}, 0) as watermark_before
    from bronze_loads

),

{%- for model_name, key, minutes in grains %}

{{ key }}_windows as (

    select
        {{ key }} as window_key,
        {{ window_start('event_time', minutes) }} as window_start,
        bronze_load_id
    from silver
    where {{ key }} is not null

),

{{ key }}_first_loads as (

    select
        window_key,
        window_start,
        min(bronze_load_id) as first_load_id
    from {{ key }}_windows
    group by window_key, window_start

),

{{ key }}_restatements as (

    select
        '{{ model_name }}' as gold_model,
        w.window_key,
        w.window_start,
        w.window_start + make_dt_interval(0, 0, {{ minutes }}, 0) as window_end,
        w.bronze_load_id,
        count(*) as late_event_count
    from {{ key }}_windows as w
    inner join watermarks
        on w.bronze_load_id = watermarks.bronze_load_id
    inner join {{ key }}_first_loads as f
        on w.window_key = f.window_key and w.window_start = f.window_start
    where
        w.window_start + make_dt_interval(0, 0, {{ minutes }}, 0) <= watermarks.watermark_before
        and f.first_load_id < w.bronze_load_id
        and w.bronze_load_id > {{ since }} and w.bronze_load_id <= {{ upto }}
    group by w.window_key, w.window_start, w.bronze_load_id

),
{%- endfor %}

restatements as (

    {%- for model_name, key, minutes in grains %}
    select * from {{ key }}_restatements
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        concat_ws(
            '|', gold_model, window_key, cast(window_start as string), cast(bronze_load_id as string)
        ) as restatement_id,
        *
    from restatements

)

select * from final
