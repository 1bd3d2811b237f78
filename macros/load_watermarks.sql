{#-
    Which bronze loads a relation has processed: the one answer models and data tests
    read. Holds: loads_processed_by, save_loads_processed, run_first_load.

    - An incremental model reads `loads_processed_by(this)` on an incremental run
      (-1 otherwise, the dbt idiom `if is_incremental()` in the model) and takes the
      loads after it, by a literal, so Delta skips the files of older loads.
    - A model whose rows do not carry the load ids it has seen
      (gold_window_restatements) keeps the newest in its table property
      `lakehouse.processed_load_id` (post-hook save_loads_processed) and reads it with
      `loads_processed_by(this, kept_in='tblproperties')`.
    - The run-scoped data tests read run_first_load(): the var `run_first_load_id`
      that `lakehouse dbt build` and the runner pass at invocation (never parsed), else
      the newest load bronze holds.
-#}

{#- The largest bronze load id `relation` has processed, as an integer at compile time
    (-1 when it has none, and while parsing): the max of its column `kept_in` (Delta
    answers it from file statistics), or, with kept_in='tblproperties', its table
    property `lakehouse.processed_load_id` (save_loads_processed). -#}
{% macro loads_processed_by(relation, kept_in='bronze_load_id') -%}
    {%- if not execute -%}{{ return(-1) }}{%- endif -%}
    {%- if kept_in == 'tblproperties' -%}
        {%- for row in run_query('show tblproperties ' ~ relation) -%}
            {%- if row[0] == 'lakehouse.processed_load_id' -%}
                {{ return(row[1] | int) }}
            {%- endif -%}
        {%- endfor -%}
        {{ return(-1) }}
    {%- endif -%}
    {%- set latest = run_query('select max(' ~ kept_in ~ ') from ' ~ relation).columns[0].values()[0] -%}
    {{ return(-1 if latest is none else latest) }}
{%- endmacro %}

{#- Post-hook: keep `load_id` as the load the model has processed up to, in its table
    property `lakehouse.processed_load_id` (loads_processed_by(this,
    kept_in='tblproperties') reads it back). Saved after the model's own commit: a
    crash between the two reprocesses loads the merge on the model's unique key has
    already applied, which changes nothing. -#}
{% macro save_loads_processed(load_id) -%}
    alter table {{ this }} set tblproperties ('lakehouse.processed_load_id' = '{{ load_id }}')
{%- endmacro %}

{#- The first bronze load of this run, which the run-scoped data tests check: the var
    `run_first_load_id` (passed at invocation by `lakehouse dbt build` and the
    runner), else the newest load bronze holds (0 when it holds none). -#}
{% macro run_first_load() -%}
    {%- if var('run_first_load_id', none) is not none -%}
        {{ return(var('run_first_load_id') | int) }}
    {%- endif -%}
    {%- set latest = loads_processed_by(source('bronze', 'bronze_capture_events'), kept_in='load_id') -%}
    {{ return([latest, 0] | max) }}
{%- endmacro %}
