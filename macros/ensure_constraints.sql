{#- Pre-hook of every model (dbt_project.yml): before an incremental run of a model with
    an enforced contract, gives its Delta table the contract's constraints it lacks
    (spark__persist_constraints), so this run's write is checked against them. dbt
    adds them itself when it creates the table. Renders no SQL. -#}
{% macro ensure_constraints() -%}
    {%- if execute and is_incremental() -%}
        {%- do persist_constraints(this, model) -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
