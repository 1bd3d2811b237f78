{#-
    dbt's merge, with the target pruned to the partitions the new rows touch.

    Delta reads every target file a MERGE's condition does not exclude by a literal,
    so a merge on a key alone costs the whole table. For a model with `partition_by`,
    this adds `DBT_INTERNAL_DEST.<column> in (<values in the new rows>)` (exact: a row
    matches only rows of its own partition) and then calls the adapter's own merge.
    The new rows are cached first, so listing their partitions and the merge compute
    them once.

    Two models' merges do more, as their `meta` says:
    - `merge_replaces_compared_sends` (silver_telemetry): each new row is an event's
      send that beats every silver row of its event_id the dedupe compares it with
      (macros/dedupe.sql); the merge deletes those rows, in whichever hour
      partition they are (the pruning lists their hours too), and inserts the new
      row, in one commit.
    - `merge_deletes_when_zero: <column>` (gold): a new row whose <column> is 0 is a
      window left with no events; the merge deletes its row and never inserts it.
-#}
{% macro get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates=none) -%}
    {%- set meta = config.get('meta') or {} -%}
    {%- if meta.get('merge_replaces_compared_sends') -%}
        {{ return(replace_compared_sends_merge_sql(target, source, incremental_predicates or [])) }}
    {%- endif -%}
    {%- set predicates = (incremental_predicates or []) + partition_predicates(source) -%}
    {%- if meta.get('merge_deletes_when_zero') -%}
        {{ return(deleting_merge_sql(target, source, unique_key, predicates, meta.get('merge_deletes_when_zero'))) }}
    {%- endif -%}
    {{ adapter.dispatch('get_merge_sql', 'dbt')(target, source, unique_key, dest_columns, predicates) }}
{%- endmacro %}
