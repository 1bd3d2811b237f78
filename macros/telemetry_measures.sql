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
