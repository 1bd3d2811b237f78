{#-
    A model contract's constraints as Delta CHECK constraints (contract_constraints),
    which Delta enforces on every write: a write with a row that breaks one fails and
    changes nothing, naming the constraint and the row's values. dbt-spark would add a
    contract's checks only when it creates a table, one ALTER TABLE (one Delta commit)
    each, and a column's not_null with ALTER COLUMN ... SET NOT NULL, which open-source
    Delta refuses on a column created nullable. Here a created table has them already
    (spark__tblproperties_clause puts them in its CREATE TABLE AS SELECT, which Delta
    checks too), and an existing table's are made the contract's (SHOW TBLPROPERTIES,
    `delta.constraints.<name>`): a missing one is added (Delta checks the table's rows
    first), a changed one dropped and added again, one the contract no longer declares
    dropped. Called after dbt creates a table and, through the pre-hook
    ensure_constraints, before each incremental run.
-#}
{% macro spark__persist_constraints(relation, model) %}
    {%- set contract = config.get('contract') -%}
    {%- if target.type != 'spark' or not contract.enforced or config.get('file_format', 'delta') != 'delta' -%}
        {%- do return(dbt.spark__persist_constraints(relation, model)) -%}
    {%- endif -%}
    {%- set wanted = contract_constraints(model) -%}
    {%- set existing = {} -%}
    {%- for row in run_query('show tblproperties ' ~ relation).rows -%}
        {%- if row[0].startswith('delta.constraints.') -%}
            {%- do existing.update({row[0][18:]: row[1]}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name, expression in existing.items() -%}
        {%- if name not in wanted or not same_sql_text(expression, wanted[name]) -%}
            {%- do run_query('alter table ' ~ relation ~ ' drop constraint ' ~ name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name, expression in wanted.items() -%}
        {%- if name not in existing or not same_sql_text(existing[name], expression) -%}
            {%- do run_query('alter table ' ~ relation ~ ' add constraint ' ~ name ~ ' check (' ~ expression ~ ')') -%}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
