{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{#-
    One row per Capture record, payload untouched. Incremental by file: a run reads
    only files (path, modification time) it has not loaded, and a record whose key
    is already in bronze (a file landed again) is never added twice.
-#}

with

capture_records as (

    select
        capture_files._metadata.file_path as capture_file_path,
        capture_files._metadata.file_modification_time as capture_file_modified_at,
        capture_files.sequencenumber as sequence_number,
        capture_files.offset as capture_offset,
        capture_files.enqueuedtimeutc as enqueued_time_utc,
        capture_files.systemproperties as system_properties,
        capture_files.properties,
        capture_files.body
    from {{ source('event_hubs_capture', 'capture_files') }} as capture_files

),

located as (

    select
        *,
        {{ capture_path_part('capture_file_path', 1) }} as namespace,
        {{ capture_path_part('capture_file_path', 2) }} as event_hub,
        cast({{ capture_path_part('capture_file_path', 3) }} as int) as partition_id
    from capture_records

),

{% if is_incremental() %}

loaded_files as (

    select distinct
        capture_file_path,
        capture_file_modified_at
    from {{ this }}

),

loaded_keys as (

    select
        namespace,
        event_hub,
        partition_id,
        sequence_number
    from {{ this }}

),

{% endif %}

new_records as (

    select located.*
    from located
    {% if is_incremental() %}
    left anti join loaded_files
        on
            located.capture_file_path = loaded_files.capture_file_path
            and located.capture_file_modified_at = loaded_files.capture_file_modified_at
    left anti join loaded_keys
        on
            located.namespace = loaded_keys.namespace
            and located.event_hub = loaded_keys.event_hub
            and located.partition_id = loaded_keys.partition_id
            and located.sequence_number = loaded_keys.sequence_number
    {% endif %}

)

select
    concat_ws('/', namespace, event_hub, partition_id, sequence_number) as capture_record_id,
    namespace,
    event_hub,
    partition_id,
    sequence_number,
    capture_offset,
    enqueued_time_utc,
    {{ parse_enqueued_time('enqueued_time_utc') }} as enqueued_at,
    system_properties,
    properties,
    body,
    capture_file_path,
    capture_file_modified_at,
    current_timestamp() as loaded_at
from new_records
