{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=['enqueued_hour'],
        on_schema_change='fail',
    )
}}

{#-
    Every bronze record, parsed once and checked against the telemetry contract:
    the typed fields, and `reasons`, every rule it breaks (empty when valid).
    Appends the rows of the bronze loads after the last one it holds (a literal
    load id, so Delta reads only the newer bronze files); silver keeps the valid
    rows, quarantine the others, each reading only loads after its own.
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
        enqueued_hour,
        body,
        load_id as bronze_load_id
    from {{ source('bronze', 'bronze_capture_events') }}
    where load_id > {{ loads_processed_by(this) if is_incremental() else -1 }}

),

decoded as (

    select
        *,
        is_valid_utf8(cast(body as string)) as is_utf8,
        -- One parse: the top-level fields of a JSON object, each a VARIANT that keeps
        -- its JSON type; null when the body is not a JSON object.
        from_json(cast(body as string), 'map<string, variant>') as fields
    from bronze

),

typed as (

    select
        *,
        fields is not null and size(array_distinct(map_keys(fields))) = size(fields) as is_object,
        -- Only for bodies that are not objects: valid JSON of another kind, or not JSON.
        case
            when fields is null and length(body) > 0 then try_parse_json(cast(body as string)) is not null
        end as is_other_json,
        {%- for name in telemetry_contract_fields() %}
        schema_of_variant(fields['{{ name }}']) as {{ name }}_json_type,
        {%- endfor %}
        try_variant_get(fields['event_id'], '$', 'string') as event_id,
        try_variant_get(fields['device_id'], '$', 'string') as device_id,
        try_variant_get(fields['site_id'], '$', 'string') as body_site_id,
        to_timestamp(try_variant_get(fields['ts'], '$', 'string')) as event_time,
        {%- for name in measures %}
        try_variant_get(fields['{{ name }}'], '$', 'double') as {{ name }},
        {%- endfor %}
        try_variant_get(fields['status'], '$', 'string') as status,
        try_variant_get(fields['schema_version'], '$', 'bigint') as schema_version
    from decoded

),

checked as (

    select
        *,
        filter(
            array(
                case when body is null or length(body) = 0 then 'empty_body' end,
                case
                    when length(body) > 0 and (not is_utf8 or not (is_object or coalesce(is_other_json, false)))
                        then 'not_json'
                end,
                case when is_other_json then 'not_object' end,
                {%- for name in ['event_id', 'device_id', 'ts'] %}
                case when is_object and {{ json_is_missing(name ~ '_json_type') }} then 'missing_{{ name }}' end,
                case
                    when
                        is_object and not {{ json_is_missing(name ~ '_json_type') }}
                        and {{ name }}_json_type != 'STRING'
                        then 'wrong_type:{{ name }}'
                end,
                {%- endfor %}
                case when is_object and ts_json_type = 'STRING' and event_time is null then 'bad_ts' end,
                {%- for name, bounds in measures.items() %}
                case
                    when
                        is_object and not {{ json_is_missing(name ~ '_json_type') }}
                        and not {{ json_is_number(name ~ '_json_type') }}
                        then 'wrong_type:{{ name }}'
                end,
                case
                    when
                        is_object and {{ json_is_number(name ~ '_json_type') }}
                        and not {{ name }} between {{ bounds[0] }} and {{ bounds[1] }}
                        then 'out_of_range:{{ name }}'
                end,
                {%- endfor %}
                {%- for name in ['site_id', 'status'] %}
                case
                    when
                        is_object and not {{ json_is_missing(name ~ '_json_type') }}
                        and {{ name }}_json_type != 'STRING'
                        then 'wrong_type:{{ name }}'
                end,
                {%- endfor %}
                {#- Device and site ids become Cosmos DB item ids (metric_id), which
                    refuse / \ ? # and more than 1,023 bytes. #}
                {%- for name, column in [('device_id', 'device_id'), ('site_id', 'body_site_id')] %}
                case
                    when {{ column }} rlike '[/?#\\\\]' or octet_length({{ column }}) > 1000 then 'bad_id:{{ name }}'
                end,
                {%- endfor %}
                case
                    when
                        is_object and status_json_type = 'STRING'
                        and status not in ('ok', 'warn', 'error')
                        then 'bad_status'
                end,
                case
                    when
                        is_object and not {{ json_is_missing('schema_version_json_type') }}
                        and not {{ json_is_integer('schema_version_json_type') }}
                        then 'wrong_type:schema_version'
                end,
                case
                    when
                        is_object and {{ json_is_integer('schema_version_json_type') }}
                        and schema_version != 1
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
    enqueued_hour,
    bronze_load_id,
    reasons,
    get(reasons, 0) as reason,  -- null, not an error, on an empty array with ANSI on
    -- The raw body is kept for quarantined records only (bronze has them all).
    case when size(reasons) > 0 then case when is_utf8 then cast(body as string) else base64(body) end end as raw_body,
    case when body is null then null when is_utf8 then 'utf-8' else 'base64' end as body_encoding,
    event_id,
    device_id,
    body_site_id,
    event_time,
    date_trunc('hour', event_time) as event_hour,
    {%- for name in measures %}
    {{ name }},
    {%- endfor %}
    status,
    cast(coalesce(schema_version, 1) as int) as schema_version,
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
