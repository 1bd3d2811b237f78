{#- The latest Delta version of `relation` (-1 before it exists or while parsing). -#}
{% macro delta_version(relation) -%}
    {%- if not execute or load_relation(relation) is none -%}{{ return(-1) }}{%- endif -%}
    {{ return(run_query('describe history ' ~ relation ~ ' limit 1').columns['version'].values()[0] | int) }}
{%- endmacro %}
