{#- The project's own uniqueness test of a key of several columns (not dbt_utils'
    unique_combination_of_columns, which this project does not install). Fails with
    one row per combination of `columns` that occurs more than once. -#}
{% test lake_unique_key_columns(model, columns) %}

    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1

{% endtest %}
