{#- Per site and tumbling window (var site_window_minutes, epoch-aligned UTC).
    Recomputed whole per window, so distinct device counts stay exact. Events
    whose site is unknown (not in the body, device not in the registry) are in
    silver and device metrics but belong to no site window. -#}

with

events as (

    {{ events_in_changed_windows('site_id', var('site_window_minutes')) }}

)

{{ site_window_metrics('events', var('site_window_minutes')) }}
