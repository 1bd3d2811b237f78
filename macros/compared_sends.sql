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
