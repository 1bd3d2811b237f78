{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='event_id',
        on_schema_change='fail',
    )
}}

{#-
    One row per distinct valid event. Duplicates (same event_id) keep the earliest
    send by (enqueued_at, partition_id, sequence_number), within a run and across
    runs: a later run replaces a silver row only with an earlier send.
-#}

with

new_valid as (

    select *
    from {{ ref('int_telemetry_validated') }}
    where
        size(reasons) = 0
        and {{ loaded_since_last_run('bronze_loaded_at') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by enqueued_at, partition_id, sequence_number
        ) as send_rank
    from new_valid

),

earliest_in_batch as (

    select * except (send_rank)
    from ranked
    where send_rank = 1

),

{% if is_incremental() %}

already_in_silver as (

    select
        event_id,
        enqueued_at,
        partition_id,
        sequence_number
    from {{ this }}

),

{% endif %}

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

),

registry as (

    select
        device_id,
        site_id
    from {{ ref('device_registry') }}

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
    winners.bronze_loaded_at,
    current_timestamp() as loaded_at
from winners
left join registry
    on winners.device_id = registry.device_id
