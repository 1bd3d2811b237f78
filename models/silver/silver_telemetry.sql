{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='event_id',
        partition_by=['event_hour'],
        on_schema_change='fail',
    )
}}

{#-
    One row per distinct valid event. Duplicates (same event_id) keep the earliest
    send by (enqueued_at, partition_id, sequence_number), within a run and across
    runs: a later run replaces a silver row only with an earlier send. An
    incremental run reads the validated rows of bronze loads after the last one it
    holds, and of itself only the hour partitions those events fall in (a resend
    keeps its body, so its event time and hour); the merge touches those hours only.
-#}

{%- set since = processed_load_id('bronze_load_id') %}
{%- set new_valid_rows = 'size(reasons) = 0 and bronze_load_id > ' ~ since %}

with

validated as (

    select *
    from {{ ref('int_telemetry_validated') }}
    where {{ new_valid_rows }}

),

registry as (

    select
        device_id,
        site_id
    from {{ ref('device_registry') }}

),

{% if is_incremental() %}

already_in_silver as (

    select
        event_id,
        enqueued_at,
        partition_id,
        sequence_number
    from {{ this }}
    {%- set new_hours = distinct_literals(ref('int_telemetry_validated'), 'event_hour', new_valid_rows) %}
    where {{ in_literals('event_hour', new_hours) }}

),

{% endif %}

ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by enqueued_at, partition_id, sequence_number
        ) as send_rank
    from validated

),

earliest_in_batch as (

    select * except (send_rank)
    from ranked
    where send_rank = 1

),

winners as (

    select earliest_in_batch.*
    from earliest_in_batch
    {% if is_incremental() %}
    left join already_in_silver
        on earliest_in_batch.event_id = already_in_silver.event_id
    where
        already_in_silver.event_id is null
        or struct(earliest_in_batch.enqueued_at, earliest_in_batch.partition_id, earliest_in_batch.sequence_number)
        < struct(already_in_silver.enqueued_at, already_in_silver.partition_id, already_in_silver.sequence_number)
    {% endif %}

)

select
    winners.event_id,
    winners.device_id,
    coalesce(winners.body_site_id, registry.site_id) as site_id,
    winners.event_time,
    winners.temperature_c,
    winners.humidity_pct,
    winners.pressure_hpa,
    winners.battery_pct,
    winners.status,
    winners.schema_version,
    winners.extra_fields,
    winners.namespace,
    winners.event_hub,
    winners.partition_id,
    winners.sequence_number,
    winners.enqueued_at,
    winners.capture_record_id,
    winners.bronze_load_id,
    winners.event_hour
from winners
left join registry
    on winners.device_id = registry.device_id
