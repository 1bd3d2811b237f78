{#- Per device and tumbling window (var device_window_minutes, epoch-aligned UTC).
    An incremental run (configured for the gold folder in dbt_project.yml)
    recomputes, whole, exactly the windows that received new silver rows or
    became final, and replaces them. -#}

with

events as (

    {{ events_in_changed_windows('device_id', var('device_window_minutes')) }}

)

{{ device_window_metrics('events', var('device_window_minutes')) }}
