{#- Every top-level field of the telemetry body contract (docs/contract.md, schema_version 1),
    in contract order; any other field of a body is kept in silver's extra_fields. -#}
{% macro telemetry_contract_fields() -%}
    {{ return(
        ['event_id', 'device_id', 'site_id', 'ts']
        + telemetry_measures().keys() | list
        + ['status', 'schema_version']
    ) }}
{%- endmacro %}
