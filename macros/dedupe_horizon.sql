{#- The dedupe horizon (var dedupe_horizon_hours) as a SQL day-time interval. -#}
{% macro dedupe_horizon() -%}
    make_dt_interval(0, 0, 0, {{ (var('dedupe_horizon_hours') | float) * 3600 }})
{%- endmacro %}
