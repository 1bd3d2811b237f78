{#- Gold's watermark: the latest event time of the valid records of the bronze loads
    in `loads` (int_bronze_loads, one row per load), up to `upto_load_id` if given,
    minus the configured delay. A scalar subquery over a table of one row per load. -#}
{% macro event_time_watermark(loads, upto_load_id=none) -%}
    (
        select max(max_event_time) - make_dt_interval(0, 0, {{ var('watermark_delay_minutes') }}, 0)
        from {{ loads }}
        {%- if upto_load_id is not none %}
        where bronze_load_id <= {{ upto_load_id }}
        {%- endif %}
    )
{%- endmacro %}
