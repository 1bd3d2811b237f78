{#-
    Registers every source with an `external:` block (location, using, options) as
    an external table over its files, then refreshes its file listing so files
    landed since the last run are seen. Run by `on-run-start`; a small stand-in for
    the dbt-external-tables package, which dbt Hub would provide.
-#}
{% macro create_external_sources() %}
    {%- if execute -%}
        {%- for node in graph.sources.values() if node.external and node.external.location -%}
            {%- do run_query(create_schema_if_missing(node.schema)) -%}
            {%- do run_query(adapter.dispatch('create_external_table', 'telemetry_lakehouse')(node)) -%}
            {%- do run_query('refresh table ' ~ node.schema ~ '.' ~ node.identifier) -%}
            {{ log('external source ' ~ node.schema ~ '.' ~ node.identifier ~ ' -> ' ~ node.external.location, info=False) }}
        {%- endfor -%}
    {%- endif -%}
    select 1
{% endmacro %}

{% macro create_schema_if_missing(schema) -%}
    create schema if not exists {{ schema }}
{%- endmacro %}

{% macro default__create_external_table(node) -%}
    {%- set ext = node.external -%}
    create table if not exists {{ node.schema }}.{{ node.identifier }}
    using {{ ext.using }}
    {%- if ext.options %}
    options (
        {%- for key, value in ext.options.items() %}
        '{{ key }}' = '{{ value | replace("'", "\\'") }}'{{ "," if not loop.last }}
        {%- endfor %}
    )
    {%- endif %}
    location '{{ ext.location }}'
{%- endmacro %}
