{#- SQL selecting `columns` of the rows of `silver` (silver_telemetry) that the dedupe
    may compare with the new sends in `new_rows` (a relation, filtered by `where`):
    the rows of the hours the new events fall in, and the rows enqueued within the
    dedupe horizon of the new sends' enqueued times. Both are read by literals
    (partitions, and Delta's file statistics on enqueued_at), so the cost follows the
    batch and the horizon, not the table. A row may come twice. -#}
{% macro silver_rows_compared_with(silver, new_rows, columns, where=none) -%}
    {%- set hours = distinct_literals(new_rows, 'event_hour', where) -%}
    {%- set span = enqueued_span(new_rows, where) -%}
    select {{ columns | join(', ') }}
    from {{ silver }}
    where {{ in_literals('event_hour', hours) }}
    union all
    select {{ columns | join(', ') }}
    from {{ silver }}
    where {{ 'enqueued_at between ' ~ span[0] ~ ' and ' ~ span[1] if span else 'false' }}
{%- endmacro %}
