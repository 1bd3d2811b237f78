{#- Tumbling windows aligned to the Unix epoch in UTC: the start of the window of
    `minutes` that contains `ts` (10:04:59.999 -> 10:00, 10:05:00.000 -> 10:05). -#}
{% macro window_start(ts, minutes) -%}
    timestamp_seconds((unix_micros({{ ts }}) div {{ minutes * 60 * 1000000 }}) * {{ minutes * 60 }})
{%- endmacro %}
