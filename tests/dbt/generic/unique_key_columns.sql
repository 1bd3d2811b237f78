{#- Fails with one row per combination of `columns` that occurs more than once. -#}
{% test unique_key_columns(model, columns) %}

    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1

{% endtest %}
