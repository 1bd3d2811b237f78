{#- Gold is exact: the incrementally built table equals what a full refresh from
    silver computes, every row and column. Fails with the differing rows. -#}
{% test matches_full_refresh(model, grain) %}

{%- set key = 'device_id' if grain == 'device' else 'site_id' %}
{%- set minutes = var('device_window_minutes') if grain == 'device' else var('site_window_minutes') %}

with

events as (

    {{ events_in_changed_windows(key, minutes) }}

),

full_refresh as (

{%- if grain == 'device' %}
    {{ device_window_metrics('events', minutes) }}
    {%- else %}
    {{ site_window_metrics('events', minutes) }}
    {%- endif %}

),

built as (

    select * from {{ model }}

)

select 'missing_or_different' as diff, *
from (select * from full_refresh except select * from built) as a
union all
select 'unexpected_or_different' as diff, *
from (select * from built except select * from full_refresh) as b

{% endtest %}
