{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='capture_record_id',
        on_schema_change='fail',
    )
}}

{#- Every bronze record that breaks a contract rule, with the first rule it breaks
    (`reason`), all of them (`reasons`), and the body as text (base64 when it is
    not UTF-8). Merged on the bronze key, so reprocessing changes nothing. -#}

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
    bronze_loaded_at,
    current_timestamp() as quarantined_at
from {{ ref('int_telemetry_validated') }}
where
    size(reasons) > 0
    and {{ loaded_since_last_run('bronze_loaded_at') }}
