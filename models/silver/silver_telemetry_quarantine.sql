{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=['enqueued_hour'],
        on_schema_change='fail',
    )
}}

{#- Every bronze record that breaks a contract rule, with the first rule it breaks
    (`reason`), all of them (`reasons`), and the body as text (base64 when it is
    not UTF-8). Appends the records of bronze loads after the last one it holds. -#}

with

validated as (

    select *
    from {{ ref('int_telemetry_validated') }}
    where size(reasons) > 0 and bronze_load_id > {{ loads_processed_by(this) if is_incremental() else -1 }}

)

select
    capture_record_id,
    reason,
    reasons,
    raw_body,
    body_encoding,
    namespace,
    event_hub,
    partition_id,
    sequence_number,
    enqueued_at,
    bronze_load_id,
    enqueued_hour
from validated
