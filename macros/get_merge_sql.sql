{#-
    dbt's merge, with the target pruned to the partitions the new rows touch.

    Delta reads every target file a MERGE's condition does not exclude by a literal,
    so a merge on a key alone costs the whole table. For a model with `partition_by`,
    this adds `DBT_INTERNAL_DEST.<column> in (<values in the new rows>)` (exact: a row
    matches only rows of its own partition) and then calls the adapter's own merge.
    The new rows are cached first, so listing their partitions and the merge compute
    them once.
-#}
{% macro get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates=none) -%}
    {%- set predicates = (incremental_predicates or []) + partition_predicates(source) -%}
    {{ adapter.dispatch('get_merge_sql', 'dbt')(target, source, unique_key, dest_columns, predicates) }}
{%- endmacro %}
