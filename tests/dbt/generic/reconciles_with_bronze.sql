{#-
    Nothing is lost: every bronze record ends in silver (as the kept send of its
    event_id), in quarantine, or is a duplicate of a kept send, never in two of
    them; silver keeps the earliest send. Scoped to the run: the records of this
    run's bronze loads, against the silver rows the dedupe compares them with (of
    the hours their events fall in, and enqueued within the dedupe horizon of them;
    the var `full_check: true` checks every record). Fails with one row per violation:
    lost, in_both, unknown_record, not_earliest. Give it `where: "true"`.
-#}
{% test reconciles_with_bronze(model, bronze, quarantine) %}

{%- set full = var('full_check', false) %}
{%- set first = run_first_load() %}
{%- set event_hour = "date_trunc('hour', to_timestamp(get_json_object(cast(body as string), '$.ts')))" %}
{%- set bronze_of_run = 'true' if full else 'load_id >= ' ~ first %}
{%- set of_run = 'true' if full else 'bronze_load_id >= ' ~ first %}
{%- set records_of_run = '(select enqueued_at, ' ~ event_hour ~ ' as event_hour from ' ~ bronze
    ~ ' where ' ~ bronze_of_run ~ ') as records_of_run' %}
{%- set silver_columns = [
    'event_id', 'capture_record_id', 'enqueued_at', 'partition_id', 'sequence_number', 'bronze_load_id'
] %}

with

bronze_records as (

    select
        capture_record_id,
        get_json_object(cast(body as string), '$.event_id') as event_id,
        enqueued_at,
        partition_id,
        sequence_number
    from {{ bronze }}
    where {{ bronze_of_run }}

),

quarantined as (

    select capture_record_id
    from {{ quarantine }}
    where {{ of_run }}

),

silver as (

    select distinct *
    from (
        {% if full -%}
        select {{ silver_columns | join(', ') }} from {{ model }}
        {%- else -%}
        {{ silver_rows_compared_with(model, records_of_run, silver_columns) }}
        {%- endif %}
    ) as compared

),

not_quarantined as (

    select *
    from bronze_records
    left anti join quarantined using (capture_record_id)

),

silver_of_run as (

    select *
    from silver
    where {{ of_run }}

),

lost as (

    select 'lost' as violation, not_quarantined.capture_record_id
    from not_quarantined
    left anti join silver
        on not_quarantined.event_id = silver.event_id

),

in_both as (

    select 'in_both' as violation, capture_record_id
    from silver_of_run
    left semi join quarantined using (capture_record_id)

),

unknown_record as (

    select 'unknown_record' as violation, capture_record_id
    from (
        select capture_record_id from silver_of_run
        union all
        select capture_record_id from quarantined
    ) as kept
    left anti join bronze_records using (capture_record_id)

),

not_earliest as (

    select 'not_earliest' as violation, s.capture_record_id
    from silver as s
    inner join not_quarantined as b
        on s.event_id = b.event_id
    where
        struct(b.enqueued_at, b.partition_id, b.sequence_number)
        < struct(s.enqueued_at, s.partition_id, s.sequence_number)

)

select * from lost
union all
select * from in_both
union all
select * from unknown_record
union all
select * from not_earliest

{% endtest %}
