{#- The merges adapters/get_merge_sql.sql chooses between. Holds: partition_predicates,
    deleting_merge_sql, replace_compared_sends_merge_sql. -#}

{#- `cast(DBT_INTERNAL_DEST.<column> as string) in (...)` for each `partition_by`
    column of the model being built, listing the values found in `source` (cached
    first); `false` when the source has no rows; none without `partition_by`. -#}
{% macro partition_predicates(source) -%}
    {%- set columns = config.get('partition_by') or [] -%}
    {%- set columns = [columns] if columns is string else columns -%}
    {%- set predicates = [] -%}
    {%- if columns and execute -%}
        {%- do run_query('cache table ' ~ source) -%}
        {%- for column in columns -%}
            {%- do predicates.append(in_literals('DBT_INTERNAL_DEST.' ~ column, distinct_literals(source, column))) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(predicates) }}
{%- endmacro %}

{#- A gold model's merge (get_merge_sql): dbt-spark's merge on `unique_key` with the
    `predicates`, except that a new row whose `zero_column` is 0 deletes the row it
    matches and is never inserted (a recomputed window left with no events). -#}
{% macro deleting_merge_sql(target, source, unique_key, predicates, zero_column) -%}
    merge into {{ target }} as DBT_INTERNAL_DEST
    using {{ source }} as DBT_INTERNAL_SOURCE
    on
        {% for predicate in predicates %}{{ predicate }} and {% endfor -%}
        DBT_INTERNAL_SOURCE.{{ unique_key }} = DBT_INTERNAL_DEST.{{ unique_key }}
    when matched and DBT_INTERNAL_SOURCE.{{ zero_column }} = 0 then delete
    when matched then update set *
    when not matched and DBT_INTERNAL_SOURCE.{{ zero_column }} != 0 then insert *
{%- endmacro %}

{#- silver_telemetry's merge (get_merge_sql): deletes the silver rows each new send in
    `source` beats (same event_id, compared by compared_sends()) and inserts the new
    sends, in one MERGE pruned to the hours of both. The source is read twice, once to
    match the rows to delete (by event_id) and once to insert (no key). -#}
{% macro replace_compared_sends_merge_sql(target, source, predicates) -%}
    {%- do run_query('cache table ' ~ source) -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | list -%}
    {%- set candidates = silver_rows_compared_with(target, source, ['event_id', 'event_hour', 'enqueued_at']) -%}
    {%- set replaced_hours -%}
        (
            select replaced.event_hour
            from ({{ candidates }}) as replaced
            inner join {{ source }} as new_sends
                on replaced.event_id = new_sends.event_id and {{ compared_sends('replaced', 'new_sends') }}
        ) as replaced_hours
    {%- endset -%}
    {%- set hours = distinct_literals(source, 'event_hour') + distinct_literals(replaced_hours, 'event_hour') -%}
    merge into {{ target }} as DBT_INTERNAL_DEST
    using (
        select *, event_id as replaced_event_id from {{ source }}
        union all
        select *, cast(null as string) as replaced_event_id from {{ source }}
    ) as DBT_INTERNAL_SOURCE
    on
        {% for predicate in predicates %}{{ predicate }} and {% endfor -%}
        {{ in_literals('DBT_INTERNAL_DEST.event_hour', hours | unique | sort) }}
        and DBT_INTERNAL_DEST.event_id = DBT_INTERNAL_SOURCE.replaced_event_id
        and {{ compared_sends('DBT_INTERNAL_DEST', 'DBT_INTERNAL_SOURCE') }}
    when matched then delete
    when not matched and DBT_INTERNAL_SOURCE.replaced_event_id is null then insert ({{ columns | join(', ') }})
    values ({% for column in columns %}DBT_INTERNAL_SOURCE.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}
