{#- The hours (as literals) that the windows selected by `windows_sql` fall in: the
    silver partitions an incremental gold run reads. -#}
{% macro window_hours(windows_sql) -%}
    {{ return(distinct_literals('(' ~ windows_sql ~ ') as windows', "date_trunc('hour', window_start)")) }}
{%- endmacro %}
