{#- In an incremental run, keep the rows loaded into `column`'s source after the
    latest value this model has already processed (all rows on a first run). -#}
{% macro loaded_since_last_run(column, this_column=none) -%}
    {%- if is_incremental() -%}
        {{ column }} > (select coalesce(max({{ this_column or column }}), timestamp'1970-01-01') from {{ this }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
