{#- Event Hubs Capture writes EnqueuedTimeUtc as `M/d/yyyy h:mm:ss a` (UTC); ISO-8601
    is tolerated. Null when neither parses (ANSI mode is off). -#}
{% macro parse_enqueued_time(column) -%}
    coalesce(
        to_timestamp({{ column }}, 'M/d/yyyy h:mm:ss a'),
        to_timestamp({{ column }})
    )
{%- endmacro %}
