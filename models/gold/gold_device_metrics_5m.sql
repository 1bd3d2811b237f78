{{ config(partition_by=['window_hour']) }}

-- depends_on: {{ ref('int_silver_replaced_sends') }}

{#- Per device and tumbling window (var device_window_minutes, epoch-aligned UTC).
    An incremental run (configured for the gold folder in dbt_project.yml)
    recomputes, whole, exactly the windows that received silver rows of newer
    bronze loads, that silver rows an earlier send replaced in them left
    (int_silver_replaced_sends), or that became final, reading only their hours of
    silver, and merges them into their hour partitions; a window left with no event
    comes out with event_count 0 and the merge deletes it. -#}

{%- set minutes = var('device_window_minutes') %}
{%- if is_incremental() %}
{%- set windows = gold_windows_to_recompute(
    ref('silver_telemetry'), ref('int_silver_replaced_sends'), ref('int_bronze_loads'), 'device_id', minutes
) %}
{%- endif %}

with

silver as (

    select * from {{ ref('silver_telemetry') }}

),

bronze_loads as (

    select * from {{ ref('int_bronze_loads') }}

),

{% if is_incremental() -%}

changed_windows as (

    {{ windows.sql }}

),

{% endif -%}

events as (

    {%- if is_incremental() %}
    {{ window_events('silver', 'device_id', minutes, 'changed_windows', windows.hours) }}
    {%- else %}
    {{ window_events('silver', 'device_id', minutes) }}
    {%- endif %}

)

{%- if is_incremental() %}
{{ device_window_metrics('events', 'bronze_loads', minutes, 'changed_windows') }}
{%- else %}
{{ device_window_metrics('events', 'bronze_loads', minutes) }}
{%- endif %}
