{{ config(materialized='view') }}

{#-
    Every bronze record, parsed and checked against the telemetry contract: the
    typed fields, and `reasons`, every rule it breaks (empty when valid). Silver
    keeps the valid rows, quarantine the others; both read only the bronze rows
    loaded since their last run.
-#}

{%- set measures = telemetry_measures() %}

with

bronze as (

    select
        capture_record_id,
        namespace,
        event_hub,
        partition_id,
        sequence_number,
        enqueued_at,
        body,
        loaded_at as bronze_loaded_at
    from {{ ref('bronze_capture_events') }}

),

decoded as (

    select
        *,
        is_valid_utf8(cast(body as string)) as is_utf8,
        try_parse_json(cast(body as string)) as doc,
        from_json(cast(body as string), 'map<string, variant>') as fields
    from bronze

),

typed as (

    select
        *,
        schema_of_variant(doc) like 'OBJECT%' as is_object,
        try_variant_get(doc, '$.event_id', 'string') as event_id,
        try_variant_get(doc, '$.device_id', 'string') as device_id,
        try_variant_get(doc, '$.site_id', 'string') as body_site_id,
        try_variant_get(doc, '$.ts', 'string') as ts,
        to_timestamp(try_variant_get(doc, '$.ts', 'string')) as event_time,
        {%- for name in measures %}
        try_variant_get(doc, '$.{{ name }}', 'double') as {{ name }},
        {%- endfor %}
        try_variant_get(doc, '$.status', 'string') as status,
        try_variant_get(doc, '$.schema_version', 'int') as schema_version
    from decoded

),

checked as (

    select
        *,
        filter(
            array(
                case when body is null or length(body) = 0 then 'empty_body' end,
                case when length(body) > 0 and (not is_utf8 or doc is null) then 'not_json' end,
                case when doc is not null and not is_object then 'not_object' end,
                {%- for name in ['event_id', 'device_id', 'ts'] %}
                case when is_object and {{ json_is_missing('doc', name) }} then 'missing_{{ name }}' end,
                case
                    when
                        is_object and not {{ json_is_missing('doc', name) }}
                        and {{ json_type('doc', name) }} != 'STRING'
                        then 'wrong_type:{{ name }}'
                end,
                {%- endfor %}
                case
                    when {{ json_type('doc', 'ts') }} = 'STRING' and event_time is null then 'bad_ts'
                end,
                {%- for name, bounds in measures.items() %}
                case
                    when
                        is_object and not {{ json_is_missing('doc', name) }}
                        and not {{ json_is_number('doc', name) }}
                        then 'wrong_type:{{ name }}'
                end,
                case
                    when
                        {{ json_is_number('doc', name) }}
                        and not {{ name }} between {{ bounds[0] }} and {{ bounds[1] }}
                        then 'out_of_range:{{ name }}'
                end,
                {%- endfor %}
                {%- for name in ['site_id', 'status'] %}
                case
                    when
                        is_object and not {{ json_is_missing('doc', name) }}
                        and {{ json_type('doc', name) }} != 'STRING'
                        then 'wrong_type:{{ name }}'
                end,
                {%- endfor %}
                case
                    when
                        {{ json_type('doc', 'status') }} = 'STRING'
                        and status not in ('ok', 'warn', 'error')
                        then 'bad_status'
                end,
                case
                    when
                        is_object and not {{ json_is_missing('doc', 'schema_version') }}
                        and {{ json_type('doc', 'schema_version') }} not in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT')
                        then 'wrong_type:schema_version'
                end,
                case
                    when
                        {{ json_type('doc', 'schema_version') }} in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT')
                        and try_variant_get(doc, '$.schema_version', 'bigint') != 1
                        then 'bad_schema_version'
                end
            ),
            broken_rule -> broken_rule is not null
        ) as reasons
    from typed

)

select
    capture_record_id,
    namespace,
    event_hub,
    partition_id,
    sequence_number,
    enqueued_at,
    bronze_loaded_at,
    reasons,
    reasons[0] as reason,
    case when is_utf8 then cast(body as string) else base64(body) end as raw_body,
    case when body is null then null when is_utf8 then 'utf-8' else 'base64' end as body_encoding,
    event_id,
    device_id,
    body_site_id,
    event_time,
    {%- for name in measures %}
    {{ name }},
    {%- endfor %}
    status,
    coalesce(schema_version, 1) as schema_version,
    nullif(
        to_json(
            map_filter(
                fields,
                (field_name, field_value)
                -> field_name not in (
                    '{{ telemetry_contract_fields() | join("', '") }}'  -- noqa: LT05
                )
            )
        ),
        '{}'
    ) as extra_fields
from checked
