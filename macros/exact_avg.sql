{#- Exact average: sums decimals (exact, order-independent), so incremental and
    full-refresh runs give bit-identical doubles. Inputs are taken to 6 decimals. -#}
{% macro exact_avg(column) -%}
    cast(avg(cast({{ column }} as decimal(18, 6))) as double)
{%- endmacro %}
