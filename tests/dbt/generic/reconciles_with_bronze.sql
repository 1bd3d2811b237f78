{#-
    Nothing is lost: every bronze record ends in silver (as the kept send of its
    event_id), in quarantine, or is a duplicate of a kept send, never in two of
    them; silver keeps the earliest send. Fails with one row per violation:
    lost, in_both, unknown_record, not_earliest.
-#}
{% test reconciles_with_bronze(model, bronze, quarantine) %}

with

quarantined as (

    select capture_record_id from {{ quarantine }}

),

not_quarantined as (

    select
        capture_record_id,
        get_json_object(cast(body as string), '$.event_id') as event_id,
        enqueued_at,
        partition_id,
        sequence_number
    from {{ bronze }}
    left anti join quarantined using (capture_record_id)

),

silver as (

    select
        event_id,
        capture_record_id,
        enqueued_at,
        partition_id,
        sequence_number
    from {{ model }}

),

lost as (

    select 'lost' as violation, not_quarantined.capture_record_id
    from not_quarantined
    left anti join silver
        on not_quarantined.event_id = silver.event_id

),

in_both as (

    select 'in_both' as violation, capture_record_id
    from silver
    left semi join quarantined using (capture_record_id)

),

unknown_record as (

    select 'unknown_record' as violation, capture_record_id
    from (
        select capture_record_id from silver
        union all
        select capture_record_id from quarantined
    ) as kept
    left anti join {{ bronze }} as b using (capture_record_id)

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
