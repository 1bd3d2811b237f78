{#- Pre-hook of an incremental model whose config sets delta.enableChangeDataFeed: on a
    table built before it did (dbt sets table properties only when it creates a
    table), turns the change feed on before the model's merge, so the merge's deletes
    are in it. Nothing when it is on already. -#}
{% macro enable_change_data_feed() -%}
    {%- if execute and is_incremental() -%}
        {%- for row in run_query('show tblproperties ' ~ this) -%}
            {%- if row[0] == 'delta.enableChangeDataFeed' and row[1] == 'true' -%}
                {{ return('') }}
            {%- endif -%}
        {%- endfor -%}
        {{ return("alter table " ~ this ~ " set tblproperties ('delta.enableChangeDataFeed' = 'true')") }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
