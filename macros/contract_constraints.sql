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
