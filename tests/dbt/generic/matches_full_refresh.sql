{#- Gold is exact: the incrementally built table equals what a full refresh from
    silver computes, every row and column. Scoped to the run: the windows this run's
    bronze loads touched or made final (the var `full_check: true` checks every
    window). Fails with the differing rows. Give it `where: "true"`: it scopes itself. -#}
{% test matches_full_refresh(model, grain) %}

{%- set key = 'device_id' if grain == 'device' else 'site_id' %}
{%- set minutes = var('device_window_minutes') if grain == 'device' else var('site_window_minutes') %}
{%- set full = var('full_check', false) %}
{%- if not full %}
{%- set since = run_first_load_id() - 1 %}
{%- set loads = ref('int_bronze_loads') %}
{%- set windows = changed_windows(ref('silver_telemetry'), ref('int_silver_replaced_sends'), model, key, minutes, since, watermark_literal(loads, since), watermark_literal(loads)) %}
{%- endif %}

with

silver as (

    select * from {{ ref('silver_telemetry') }}

),

bronze_loads as (

    select * from {{ ref('int_bronze_loads') }}

),

{%- if not full %}

windows_in_scope as (

    {{ windows }}

),

{%- endif %}

events as (

    {{ window_events('silver', key, minutes, none if full else 'windows_in_scope', none if full else window_hours(windows)) }}

),

full_refresh as (

{%- if grain == 'device' %}
    {{ device_window_metrics('events', 'bronze_loads', minutes) }}
    {%- else %}
    {{ site_window_metrics('events', 'bronze_loads', minutes) }}
    {% endif %}

),

built as (

    select * from {{ model }}
    where {{ 'true' if full else '(' ~ key ~ ', window_start) in (select window_key, window_start from windows_in_scope)' }}

)

select 'missing_or_different' as diff, *
from (select * from full_refresh except select * from built) as a
union all
select 'unexpected_or_different' as diff, *
from (select * from built except select * from full_refresh) as b

{% endtest %}
