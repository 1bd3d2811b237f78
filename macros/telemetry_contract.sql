{#- The telemetry body contract (docs/contract.md, schema_version 1). Holds:
    telemetry_measures, telemetry_contract_fields, json_is_number, json_is_integer,
    json_is_missing. -#}

{#- The telemetry body contract (docs/contract.md, schema_version 1): each measure and its
    valid range [min, max]. The contract's rules are these macros and
    telemetry_contract_fields, json_is_number, json_is_integer, json_is_missing. -#}
{% macro telemetry_measures() -%}
    {{ return({
        'temperature_c': [-50, 150],
        'humidity_pct': [0, 100],
        'pressure_hpa': [800, 1100],
        'battery_pct': [0, 100],
    }) }}
{%- endmacro %}

{#- Every top-level field of the telemetry body contract (docs/contract.md, schema_version 1),
    in contract order; any other field of a body is kept in silver's extra_fields. -#}
{% macro telemetry_contract_fields() -%}
    {{ return(
        ['event_id', 'device_id', 'site_id', 'ts']
        + telemetry_measures().keys() | list
        + ['status', 'schema_version']
    ) }}
{%- endmacro %}

{#- Whether a JSON field is a number. `type_column` holds the field's JSON type as
    schema_of_variant names it: BIGINT, DOUBLE, DECIMAL(p,s), STRING, BOOLEAN,
    OBJECT<...>, ARRAY<...>; VOID for JSON null; null when the field is absent. -#}
{% macro json_is_number(type_column) -%}
    (
        {{ type_column }} in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE')
        or {{ type_column }} like 'DECIMAL%'
    )
{%- endmacro %}

{#- Whether a JSON field is an integer (`type_column`: its type as schema_of_variant
    names it, see json_is_number). -#}
{% macro json_is_integer(type_column) -%}
    {{ type_column }} in ('TINYINT', 'SMALLINT', 'INT', 'BIGINT')
{%- endmacro %}

{#- Whether a JSON field is absent, or present as JSON null (`type_column`: its type
    as schema_of_variant names it, see json_is_number). -#}
{% macro json_is_missing(type_column) -%}
    coalesce({{ type_column }} = 'VOID', true)
{%- endmacro %}
