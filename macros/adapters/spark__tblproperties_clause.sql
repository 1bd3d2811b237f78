{#- dbt-spark's table properties clause (the model's `tblproperties`), with, for a model
    with an enforced contract on Delta, its constraints as `delta.constraints.<name>`
    properties (contract_constraints): a created table has them from its CREATE TABLE
    AS SELECT, whose write Delta checks against them, with no ALTER TABLE (no Delta
    commit) per constraint. -#}
{% macro spark__tblproperties_clause() -%}
    {%- set properties = {} -%}
    {%- do properties.update(config.get('tblproperties') or {}) -%}
    {%- for name, expression in contract_constraints(model).items() -%}
        {%- do properties.update({'delta.constraints.' ~ name: expression}) -%}
    {%- endfor -%}
    {%- if properties %}
    tblproperties (
        {%- for key, value in properties.items() %}
        {{ spark_string_literal(key) }} = {{ spark_string_literal(value) }}{{ ',' if not loop.last }}
        {%- endfor %}
    )
    {%- endif %}
{%- endmacro %}
