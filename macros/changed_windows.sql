{#- The windows (window_key, window_start) of `minutes` per `key` an incremental run
    must recompute: those with silver rows of bronze loads after `since_load_id`, those
    that silver rows replaced in those loads left (`replaced`, int_silver_replaced_sends:
    an earlier send of the event moved it), and those the watermark makes final now
    (window_end in (watermark_then, watermark_now]). `silver`, `replaced` and `gold`
    are relations; the watermarks SQL literals. -#}
{% macro changed_windows(silver, replaced, gold, key, minutes, since_load_id, watermark_then, watermark_now) -%}
    select
        {{ key }} as window_key,
        {{ window_start('event_time', minutes) }} as window_start
    from {{ silver }}
    where bronze_load_id > {{ since_load_id }} and {{ key }} is not null
    union
    select
        {{ key }} as window_key,
        {{ window_start('event_time', minutes) }} as window_start
    from {{ replaced }}
    where replaced_in_load_id > {{ since_load_id }} and {{ key }} is not null
    union
    select
        {{ key }} as window_key,
        window_start
    from {{ gold }}
    where
        window_end <= {{ watermark_now }}
        {%- if watermark_then != 'null' %}
        and window_end > {{ watermark_then }}
        {%- endif %}
{%- endmacro %}
