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
