{#- The telemetry body contract (DESIGN.md, schema_version 1) in one place. -#}

{% macro telemetry_measures() -%}
    {{ return({
        'temperature_c': [-50, 150],
        'humidity_pct': [0, 100],
        'pressure_hpa': [800, 1100],
        'battery_pct': [0, 100],
    }) }}
{%- endmacro %}

{% macro telemetry_contract_fields() -%}
    {{ return(['event_id', 'device_id', 'site_id', 'ts'] + telemetry_measures().keys() | list + ['status', 'schema_version']) }}
{%- endmacro %}

{#- The JSON type of a top-level field of a parsed (variant) body: BIGINT, DOUBLE,
    DECIMAL(p,s), STRING, BOOLEAN, OBJECT<...>, ARRAY<...>; VOID for JSON null and
    null when the field is absent. -#}
{% macro json_type(variant_column, field) -%}
    schema_of_variant(variant_get({{ variant_column }}, '$.{{ field }}'))
{%- endmacro %}

{% macro json_is_number(variant_column, field) -%}
    ({{ json_type(variant_column, field) }} in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE')
    or {{ json_type(variant_column, field) }} like 'DECIMAL%')
{%- endmacro %}

{#- Absent, or present as JSON null. -#}
{% macro json_is_missing(variant_column, field) -%}
    coalesce({{ json_type(variant_column, field) }} = 'VOID', true)
{%- endmacro %}
