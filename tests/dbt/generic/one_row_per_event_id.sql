{#-
    One row per event_id in the whole table, checked by the full check (the var
    `full_check: true`): silver dedupes a resend against the rows enqueued within the
    dedupe horizon (var dedupe_horizon_hours) or in its event's hour, so two sends
    further apart, with events in different hours, stay two rows. Fails with one row
    per such event_id, and logs the first 20 with the command that repairs them. A
    scoped run checks nothing here (the column test `unique` checks the run's rows:
    looking up every older row would cost the table). Give it `where: "true"`.
-#}
{% test one_row_per_event_id(model) %}

{%- set full = var('full_check', false) %}
{%- set duplicates -%}
    select
        event_id,
        count(*) as silver_rows,
        sort_array(collect_list(capture_record_id)) as capture_record_ids,
        round((unix_timestamp(max(enqueued_at)) - unix_timestamp(min(enqueued_at))) / 3600, 1) as enqueued_hours_apart
    from {{ model }}
    group by event_id
    having count(*) > 1
{%- endset %}

{%- if full and execute %}
{%- set found = run_query(duplicates ~ ' order by event_id limit 20') %}
{%- if found.rows | length > 0 %}
{%- set listed = [] %}
{%- for row in found.rows %}
{%- do listed.append(row['event_id'] ~ ' (' ~ row['silver_rows'] ~ ' rows, sends enqueued ' ~ row['enqueued_hours_apart'] ~ ' h apart)') %}
{%- endfor %}
{%- do log(
    'one_row_per_event_id: silver_telemetry holds more than one row for these event_ids (first 20): '
    ~ listed | join(', ') ~ '. Their sends were enqueued further apart than the dedupe horizon '
    ~ '(var dedupe_horizon_hours = ' ~ var('dedupe_horizon_hours') ~ '), so the incremental dedupe did not '
    ~ 'compare them. Rebuild silver and what follows from it: '
    ~ "lakehouse dbt build --full-refresh --select silver_telemetry+ --vars '{full_check: true}'",
    info=true,
) %}
{%- endif %}
{%- endif %}

{%- if full %}
{{ duplicates }}
{%- else %}
select event_id
from {{ model }}
where false
{%- endif %}

{% endtest %}
