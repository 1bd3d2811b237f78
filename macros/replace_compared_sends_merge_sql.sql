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
