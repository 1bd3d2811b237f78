{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='event_id',
        partition_by=['event_hour'],
        on_schema_change='fail',
        tblproperties={'delta.enableChangeDataFeed': 'true'},
        meta={'merge_replaces_compared_sends': true},
        pre_hook="{{ enable_change_data_feed() }}",
    )
}}

{#-
    One row per distinct valid event. Duplicates (same event_id) keep the earliest
    send by (enqueued_at, partition_id, sequence_number), within a run and across
    runs: a later run replaces a silver row only with an earlier send. Across runs a
    new send is compared with the silver rows of its event_id that fall in the same
    event hour or were enqueued within the dedupe horizon of it (var
    dedupe_horizon_hours; macros/dedupe.sql), so a resend whose body carries
    another `ts` is deduped too. An incremental run reads the validated rows of the
    bronze loads after the last one it holds and, of itself, only those hours and
    the rows enqueued within the horizon of the new sends; the merge deletes the
    rows the new sends replace (in whichever hour they are) and inserts the new sends
    (macros/adapters/get_merge_sql.sql). Its change feed says which rows were replaced
    (int_silver_replaced_sends), so gold recomputes the windows they left.
-#}

{%- set since = loads_processed_by(this) if is_incremental() else -1 %}
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

    {{ silver_rows_compared_with(
        this,
        ref('int_telemetry_validated'),
        ['event_id', 'event_hour', 'enqueued_at', 'partition_id', 'sequence_number'],
        new_valid_rows,
    ) }}

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
    left anti join already_in_silver
        on
            earliest_in_batch.event_id = already_in_silver.event_id
            and {{ compared_sends('already_in_silver', 'earliest_in_batch') }}
            and struct(already_in_silver.enqueued_at, already_in_silver.partition_id, already_in_silver.sequence_number)
            <= struct(earliest_in_batch.enqueued_at, earliest_in_batch.partition_id, earliest_in_batch.sequence_number)
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
