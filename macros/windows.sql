{#- Tumbling windows aligned to the Unix epoch in UTC: the start of the window of
    `minutes` that contains `ts` (10:04:59.999 -> 10:00, 10:05:00.000 -> 10:05). -#}
{% macro window_start(ts, minutes) -%}
    timestamp_seconds((unix_micros({{ ts }}) div {{ minutes * 60 * 1000000 }}) * {{ minutes * 60 }})
{%- endmacro %}

{% macro window_end(ts, minutes) -%}
    timestamp_seconds((unix_micros({{ ts }}) div {{ minutes * 60 * 1000000 }}) * {{ minutes * 60 }} + {{ minutes * 60 }})
{%- endmacro %}

{#- A stable id for a window of a key: `<key>_<yyyyMMdd'T'HHmm'Z'>`, e.g. dev-00001_20261122T1005Z. -#}
{% macro window_metric_id(key_column, window_start_column) -%}
    concat({{ key_column }}, '_', date_format({{ window_start_column }}, "yyyyMMdd'T'HHmm'Z'"))
{%- endmacro %}

{#- Gold's watermark: the latest event time seen in silver minus the configured delay. -#}
{% macro event_time_watermark(events_relation) -%}
    (select max(event_time) - make_dt_interval(0, 0, {{ var('watermark_delay_minutes') }}, 0) from {{ events_relation }})
{%- endmacro %}

{#- Exact average: sums decimals (exact, order-independent), so incremental and
    full-refresh runs give bit-identical doubles. Inputs are taken to 6 decimals. -#}
{% macro exact_avg(column) -%}
    cast(avg(cast({{ column }} as decimal(18, 6))) as double)
{%- endmacro %}
