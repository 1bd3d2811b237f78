{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='metric_id',
        on_schema_change='fail',
        tblproperties={'delta.enableChangeDataFeed': 'true'},
    )
}}

{#- Per device and tumbling window (var device_window_minutes, epoch-aligned UTC).
    An incremental run recomputes, whole, exactly the windows that received new
    silver rows or became final, and replaces them. -#}

with

events as (

    {{ events_in_changed_windows('device_id', var('device_window_minutes')) }}

)

{{ device_window_metrics('events', var('device_window_minutes')) }}
