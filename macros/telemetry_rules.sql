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

{#- Type columns hold a field's JSON type as schema_of_variant names it: BIGINT,
    DOUBLE, DECIMAL(p,s), STRING, BOOLEAN, OBJECT<...>, ARRAY<...>; VOID for JSON
    null; null when the field is absent. -#}

{% macro json_is_number(type_column) -%}
    ({{ type_column }} in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE') or {{ type_column }} like 'DECIMAL%')
{%- endmacro %}

{% macro json_is_integer(type_column) -%}
    {{ type_column }} in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT')
{%- endmacro %}

{#- Absent, or present as JSON null. -#}
{% macro json_is_missing(type_column) -%}
    coalesce({{ type_column }} = 'VOID', true)
{%- endmacro %}
