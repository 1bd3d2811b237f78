{#- The silver events of `relation` with a `key`, each with the start of its window of
    `minutes`; when `windows` (a relation of window_key, window_start) is given, only
    the events in those windows, read from their hour partitions only. -#}
{% macro window_events(relation, key, minutes, windows=none, hours=none) -%}
    select
        *,
        {{ window_start('event_time', minutes) }} as window_start
    from {{ relation }}
    where {{ key }} is not null
    {%- if windows is not none %}
        and {{ in_literals('event_hour', hours) }}
        and ({{ key }}, {{ window_start('event_time', minutes) }}) in (
            select window_key, window_start from {{ windows }}
        )
    {%- endif %}
{%- endmacro %}
