{#- Silver's dedupe (docs/contract.md: the dedupe rule and its horizon). Holds:
    dedupe_horizon, compared_sends, enqueued_span, silver_rows_compared_with. -#}

{#- The dedupe horizon (var dedupe_horizon_hours) as a SQL day-time interval. -#}
{% macro dedupe_horizon() -%}
    make_dt_interval(0, 0, 0, {{ (var('dedupe_horizon_hours') | float) * 3600 }})
{%- endmacro %}

{#- SQL that is true when the send `existing` (a silver row) and the send `new` of the
    same event_id are compared by the dedupe: their events fall in the same hour, or
    they were enqueued within the dedupe horizon of each other. `existing` and `new`
    are table aliases; the caller matches their event_id. -#}
{% macro compared_sends(existing, new) -%}
    (
        {{ existing }}.event_hour = {{ new }}.event_hour
        or {{ existing }}.enqueued_at between {{ new }}.enqueued_at - {{ dedupe_horizon() }}
        and {{ new }}.enqueued_at + {{ dedupe_horizon() }}
    )
{%- endmacro %}

{#- The earliest enqueued time in `relation` (optionally `where`) minus the dedupe
    horizon and the latest plus it, as two SQL timestamp literals; none when it has no
    rows. -#}
{% macro enqueued_span(relation, where=none) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set query -%}
        select
            cast(min(enqueued_at) - {{ dedupe_horizon() }} as string),
            cast(max(enqueued_at) + {{ dedupe_horizon() }} as string)
        from {{ relation }}
        {%- if where %}
        where {{ where }}
        {%- endif %}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- if row[0] is none -%}{{ return(none) }}{%- endif -%}
    {{ return(["timestamp'" ~ row[0] ~ "'", "timestamp'" ~ row[1] ~ "'"]) }}
{%- endmacro %}

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
