{#- Row checks of a table in one query, for tables no contract constrains (sources, seeds,
    snapshots): every row has a value in each of `not_null`'s columns and meets each
    condition of `checks` (name: SQL condition; a null result fails, as in a Delta CHECK
    constraint). Fails with one row per row that breaks any, `failed_checks` naming them. -#}
{% test lake_row_checks(model, not_null=[], checks={}) %}

{%- set conditions = {} %}
{%- for column in not_null %}
{%- do conditions.update({column ~ '_not_null': column ~ ' is not null'}) %}
{%- endfor %}
{%- do conditions.update(checks) %}
{%- set failed = [] %}
{%- set broken = [] %}
{%- for name, condition in conditions.items() %}
{%- do failed.append("case when not coalesce(" ~ condition ~ ", false) then '" ~ name ~ "' end") %}
{%- do broken.append('not coalesce(' ~ condition ~ ', false)') %}
{%- endfor %}

    select
        concat_ws(', ', {{ failed | join(', ') }}) as failed_checks,
        *
    from {{ model }}
    where {{ broken | join(' or ') or 'false' }}

{% endtest %}
