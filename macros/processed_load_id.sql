{#- The largest bronze load id `column` holds in the model being built ({{ this }}):
    what it has processed. -1 on a first or full run. Delta answers max() from its
    file statistics, and the literal lets it skip older files of the input. -#}
{% macro processed_load_id(column) -%}
    {%- if execute and is_incremental() -%}
        {%- set latest = run_query('select max(' ~ column ~ ') from ' ~ this).columns[0].values()[0] -%}
        {{ return(-1 if latest is none else latest) }}
    {%- endif -%}
    {{ return(-1) }}
{%- endmacro %}
