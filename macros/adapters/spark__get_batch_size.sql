{#- Load a seed in one INSERT: every insert is a Delta commit (~1 s locally), and
    the 10,000-row device registry otherwise takes ten. -#}
{% macro spark__get_batch_size() -%}
    {{ return(10000) }}
{%- endmacro %}
