{{ config(partition_by=['window_hour']) }}

{#- Per device and tumbling window (var device_window_minutes, epoch-aligned UTC).
    An incremental run (configured for the gold folder in dbt_project.yml)
    recomputes, whole, exactly the windows that received silver rows of newer
    bronze loads or became final, reading only their hours of silver, and merges
    them into their hour partitions. -#}

{%- set minutes = var('device_window_minutes') %}
{%- if is_incremental() %}
{%- set windows = gold_windows_to_recompute(ref('silver_telemetry'), ref('int_bronze_loads'), 'device_id', minutes) %}
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

{{ device_window_metrics('events', 'bronze_loads', minutes) }}
