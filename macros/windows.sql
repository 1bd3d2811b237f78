{#- Gold's tumbling windows and its watermark. Holds: window_start, window_metric_id,
    exact_avg, event_time_watermark, watermark_literal, gold_window_events. -#}

{#- Tumbling windows aligned to the Unix epoch in UTC: the start of the window of
    `minutes` that contains `ts` (10:04:59.999 -> 10:00, 10:05:00.000 -> 10:05). -#}
{% macro window_start(ts, minutes) -%}
    timestamp_seconds((unix_micros({{ ts }}) div {{ minutes * 60 * 1000000 }}) * {{ minutes * 60 }})
{%- endmacro %}

{#- A stable id for a window of a key: `<key>_<yyyyMMdd'T'HHmm'Z'>`, e.g. dev-00001_20261122T1005Z. -#}
{% macro window_metric_id(key_column, window_start_column) -%}
    concat({{ key_column }}, '_', date_format({{ window_start_column }}, "yyyyMMdd'T'HHmm'Z'"))
{%- endmacro %}

{#- Exact average: sums decimals (exact, order-independent), so incremental and
    full-refresh runs give bit-identical doubles. Inputs are taken to 6 decimals. -#}
{% macro exact_avg(column) -%}
    cast(avg(cast({{ column }} as decimal(18, 6))) as double)
{%- endmacro %}

{#- Gold's watermark: the latest event time of the valid records of the bronze loads
    in `loads` (int_bronze_loads, one row per load), minus the configured delay. A
    scalar subquery over a table of one row per load. -#}
{% macro event_time_watermark(loads) -%}
    (
        select max(max_event_time) - make_dt_interval(0, 0, {{ var('watermark_delay_minutes') }}, 0)
        from {{ loads }}
    )
{%- endmacro %}

{#- event_time_watermark() of the loads in `loads` up to `upto_load_id` (all when
    none), run now, as a SQL timestamp literal ('null' before any load), so Delta can
    skip files by it. -#}
{% macro watermark_literal(loads, upto_load_id=none) -%}
    {%- if not execute -%}{{ return('null') }}{%- endif -%}
    {%- set query -%}
        select cast(max(max_event_time) - make_dt_interval(0, 0, {{ var('watermark_delay_minutes') }}, 0) as string)
        from {{ loads }}
        {%- if upto_load_id is not none %}
        where bronze_load_id <= {{ upto_load_id }}
        {%- endif %}
    {%- endset -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return('null' if value is none else "timestamp'" ~ value ~ "'") }}
{%- endmacro %}

{#-
    The silver events of `silver` (silver_telemetry) that have a `key`, each with the
    start of its window of `minutes` (window_start): the input of a gold model's
    group by key, window_start. All of them on a full run. On an incremental run,
    only the events of the windows to recompute, read from the silver hours those
    windows fall in (literals, so Delta prunes partitions), with one row with no
    event (null event_id) for each window to recompute, so a window left with no
    event comes out with event_count 0 (the merge deletes it).

    The windows to recompute are those with silver rows of the bronze loads after
    `since_load_id`, those that silver rows replaced in those loads left
    (int_silver_replaced_sends: an earlier send of the event moved it), and those of
    `gold` the watermark makes final now (window_end in (watermark then, watermark
    now], the watermarks of int_bronze_loads up to `since_load_id` and now). An
    incremental gold model passes neither: `gold` is {{ this }} and `since_load_id`
    loads_processed_by(this). matches_full_refresh passes the model it checks and the
    load before the run's first.
-#}
{% macro gold_window_events(silver, key, minutes, gold=none, since_load_id=none) -%}
    {%- if gold is none and is_incremental() -%}
        {%- set gold = this -%}
        {%- set since_load_id = loads_processed_by(this) -%}
    {%- endif -%}
    {%- if gold is none %}
    select
        *,
        {{ window_start('event_time', minutes) }} as window_start
    from {{ silver }}
    where {{ key }} is not null
    {%- else -%}
    {%- set loads = ref('int_bronze_loads') -%}
    {%- set watermark_then = watermark_literal(loads, since_load_id) -%}
    {%- set watermark_now = watermark_literal(loads) -%}
    {%- set windows -%}
        select
            {{ key }},
            {{ window_start('event_time', minutes) }} as window_start
        from {{ silver }}
        where bronze_load_id > {{ since_load_id }} and {{ key }} is not null
        union
        select
            {{ key }},
            {{ window_start('event_time', minutes) }} as window_start
        from {{ ref('int_silver_replaced_sends') }}
        where replaced_in_load_id > {{ since_load_id }} and {{ key }} is not null
        union
        select
            {{ key }},
            window_start
        from {{ gold }}
        where
            window_end <= {{ watermark_now }}
            {%- if watermark_then != 'null' %}
            and window_end > {{ watermark_then }}
            {%- endif %}
    {%- endset -%}
    {%- set hours = distinct_literals('(' ~ windows ~ ') as windows', "date_trunc('hour', window_start)") %}
    select *
    from (
        {{ windows }}
    ) as windows_to_recompute
    left join (
        select
            *,
            {{ window_start('event_time', minutes) }} as window_start
        from {{ silver }}
        where {{ key }} is not null and {{ in_literals('event_hour', hours) }}
    ) as events_in_their_hours using ({{ key }}, window_start)
    {%- endif %}
{%- endmacro %}
