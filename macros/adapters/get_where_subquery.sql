{#-
    Data tests scoped to the run. A test whose `where` config contains
    `__run_first_load_id__` checks only the rows of this run's bronze loads
    (`load_id >= __run_first_load_id__`, run_first_load() in
    macros/load_watermarks.sql), so its cost follows the batch; with the var
    `full_check: true` it checks the whole table. dbt's documented way to render a
    `where` at run time.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__run_first_load_id__' in where -%}
        {%- set where = none if var('full_check', false)
            else where | replace('__run_first_load_id__', run_first_load()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
