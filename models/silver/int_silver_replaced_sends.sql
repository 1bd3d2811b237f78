{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='capture_record_id',
        on_schema_change='fail',
        post_hook="{{ save_table_property('lakehouse.processed_silver_version', delta_version(ref('silver_telemetry'))) }}",
    )
}}

{#-
    The silver rows an earlier send of their event replaced, from silver's change feed:
    where each event was before (device, site, event time), and the bronze load of the
    send that replaced it. Gold recomputes the windows these rows left
    (gold_window_events, macros/windows.sql). An incremental run reads the silver
    versions after the one it last read (kept in a table property); a first or full
    run reads none and starts from silver's current version.
-#}

{%- set silver = ref('silver_telemetry') %}
{%- set latest = delta_version(silver) %}
{%- set start = saved_table_property('lakehouse.processed_silver_version') + 1 %}

with

changes as (

    {%- if is_incremental() and 0 <= start <= latest %}
    select *
    from table_changes('{{ silver }}', {{ start }}, {{ latest }})
    {%- else %}
    select
        *,
        cast(null as string) as _change_type,
        cast(null as bigint) as _commit_version
    from {{ silver }}
    where false
    {%- endif %}

),

removed as (

    select *
    from changes
    where _change_type in ('delete', 'update_preimage')

),

added as (

    select
        event_id,
        _commit_version,
        max(bronze_load_id) as bronze_load_id
    from changes
    where _change_type in ('insert', 'update_postimage')
    group by event_id, _commit_version

)

select
    removed.capture_record_id,
    removed.event_id,
    removed.device_id,
    removed.site_id,
    removed.event_time,
    removed.event_hour,
    removed.bronze_load_id,
    added.bronze_load_id as replaced_in_load_id,
    removed._commit_version as silver_version
from removed
left join added
    on removed.event_id = added.event_id and removed._commit_version = added._commit_version
