{#- Part of a Capture file path: 1 namespace, 2 event hub, 3 partition id, from
    .../{Namespace}/{EventHub}/{PartitionId}/{YYYY}/{MM}/{DD}/{hh}/{mm}/{ss}.avro -#}
{% macro capture_path_part(path_column, part) -%}
    regexp_extract(
        {{ path_column }},
        '([^/]+)/([^/]+)/([^/]+)/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{2}[.]avro$',
        {{ part }}
    )
{%- endmacro %}
