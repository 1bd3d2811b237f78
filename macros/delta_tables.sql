{#- A model's Delta table: its version, its table properties, its change feed and
    its CHECK constraints. Holds: delta_version, save_table_property,
    saved_table_property, enable_change_data_feed, contract_constraints,
    ensure_constraints. -#}

{#- The latest Delta version of `relation` (-1 before it exists or while parsing). -#}
{% macro delta_version(relation) -%}
    {%- if not execute or load_relation(relation) is none -%}{{ return(-1) }}{%- endif -%}
    {{ return(run_query('describe history ' ~ relation ~ ' limit 1').columns['version'].values()[0] | int) }}
{%- endmacro %}

{#- Post-hook: keep `value` in the model's Delta table property `name`
    (saved_table_property() reads it back). -#}
{% macro save_table_property(name, value) -%}
    alter table {{ this }} set tblproperties ('{{ name }}' = '{{ value }}')
{%- endmacro %}

{#- The integer the model being built keeps in its Delta table property `name`
    (save_table_property()); -1 on a first or full run, or when it has none. -#}
{% macro saved_table_property(name) -%}
    {%- if execute and is_incremental() -%}
        {%- for row in run_query('show tblproperties ' ~ this) -%}
            {%- if row[0] == name -%}
                {{ return(row[1] | int) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(-1) }}
{%- endmacro %}

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

{#- The Delta CHECK constraints of a model's enforced contract on Spark (name: SQL
    expression): a column's not_null is `<column> is not null`, named
    `<column>_not_null`; a check (of a column or the model) keeps its name. Empty for
    other nodes, file formats and adapters; any other constraint type is an error. -#}
{% macro contract_constraints(model) -%}
    {%- set contract = config.get('contract') -%}
    {%- if target.type != 'spark' or not (contract and contract.enforced)
        or config.get('file_format', 'delta') != 'delta' -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set declared = [] -%}
    {%- for constraint in model.constraints -%}
        {%- do declared.append((none, constraint)) -%}
    {%- endfor -%}
    {%- for name, column in model.columns.items() -%}
        {%- for constraint in column.constraints -%}
            {%- do declared.append((name, constraint)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set constraints = {} -%}
    {%- for column, constraint in declared -%}
        {%- if constraint.type == 'not_null' and column -%}
            {%- do constraints.update({(column ~ '_not_null') | lower: column ~ ' is not null'}) -%}
        {%- elif constraint.type == 'check' and constraint.name and constraint.expression -%}
            {%- do constraints.update({constraint.name | lower: constraint.expression}) -%}
        {%- else -%}
            {%- do exceptions.raise_compiler_error(
                model.name ~ ': Delta enforces a column\'s not_null and a named check (name, expression); not '
                ~ constraint.type ~ (' on ' ~ column if column else '') ~ '. Test it instead (a data test).'
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(constraints) }}
{%- endmacro %}

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
