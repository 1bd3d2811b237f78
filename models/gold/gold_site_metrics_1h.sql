{{ config(partition_by=['window_date']) }}

-- depends_on: {{ ref('int_silver_replaced_sends') }}

{#- Per site and tumbling window (var site_window_minutes, epoch-aligned UTC).
    Recomputed whole per window, so distinct device counts stay exact. Events
    whose site is unknown (not in the body, device not in the registry) are in
    silver and device metrics but belong to no site window. An incremental run
    recomputes the windows gold_device_metrics_5m's does (per site) and deletes
    those left with no event. -#}

{%- set minutes = var('site_window_minutes') %}
{%- if is_incremental() %}
{%- set windows = gold_windows_to_recompute(
    ref('silver_telemetry'), ref('int_silver_replaced_sends'), ref('int_bronze_loads'), 'site_id', minutes
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
    {{ window_events('silver', 'site_id', minutes, 'changed_windows', windows.hours) }}
    {%- else %}
    {{ window_events('silver', 'site_id', minutes) }}
    {%- endif %}

)

{%- if is_incremental() %}
{{ site_window_metrics('events', 'bronze_loads', minutes, 'changed_windows') }}
{%- else %}
{{ site_window_metrics('events', 'bronze_loads', minutes) }}
{%- endif %}
