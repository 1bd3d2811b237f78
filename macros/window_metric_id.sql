{#- A stable id for a window of a key: `<key>_<yyyyMMdd'T'HHmm'Z'>`, e.g. dev-00001_20261122T1005Z. -#}
{% macro window_metric_id(key_column, window_start_column) -%}
    concat({{ key_column }}, '_', date_format({{ window_start_column }}, "yyyyMMdd'T'HHmm'Z'"))
{%- endmacro %}
