{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{#- One row per bronze load: its records, valid records and the latest event time
    among the valid ones. Gold's watermark (the latest event time seen, minus the
    delay) is read from this small table instead of scanning silver. -#}

with

validated as (

    select *
    from {{ ref('int_telemetry_validated') }}
    where bronze_load_id > {{ loads_processed_by(this) if is_incremental() else -1 }}

)

select
    bronze_load_id,
    count(*) as records,
    count_if(size(reasons) = 0) as valid_records,
    max(case when size(reasons) = 0 then event_time end) as max_event_time
from validated
group by bronze_load_id
