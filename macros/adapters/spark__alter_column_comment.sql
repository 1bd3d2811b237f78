{#-
    persist_docs on Delta tables. dbt-spark comments every documented column after every
    run of a model, one ALTER TABLE (one Delta commit) per column: 82 commits for this
    project's tables on each run. This sends only the columns whose comment in the table
    differs from their description (all of them when a table is created, none on an
    ordinary incremental run), in one ALTER TABLE ... ALTER COLUMN a COMMENT ..., b
    COMMENT ... (Spark 4 and Delta take several columns at once): one commit at most.
    Documented columns the table lacks are left out (spark__persist_docs calls this
    without listing the table's columns first).
-#}
{% macro spark__alter_column_comment(relation, column_dict) %}
    {%- if config.get('file_format', validator=validation.any[basestring]) not in ['delta'] -%}
        {%- do return(dbt.spark__alter_column_comment(relation, column_dict)) -%}
    {%- endif -%}
    {%- set state = namespace(in_columns=true) -%}
    {%- set current = {} -%}
    {%- for row in run_query('describe table ' ~ relation).rows -%}
        {%- if not row[0] or row[0].startswith('#') -%}
            {%- set state.in_columns = false -%}
        {%- elif state.in_columns -%}
            {%- do current.update({row[0] | lower: row[2] or ''}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set changes = [] -%}
    {%- for name, column in column_dict.items() -%}
        {%- set description = column['description'] or '' -%}
        {%- if name | lower in current and description != current[name | lower] -%}
            {%- do changes.append(adapter.quote(name) ~ " comment '"
                                  ~ description | replace('\\', '\\\\') | replace("'", "\\'") ~ "'") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if changes -%}
        {%- do run_query('alter table ' ~ relation ~ ' alter column ' ~ changes | join(', ')) -%}
    {%- endif -%}
{% endmacro %}
