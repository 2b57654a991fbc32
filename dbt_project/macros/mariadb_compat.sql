{#-
  MariaDB rejects a parenthesised query that starts with WITH (`create view v as (with ...)`),
  which is how dbt-core and dbt-mysql 1.7 wrap model SQL. These overrides drop the
  parentheses on MySQL/MariaDB only; the root project's macros win in dbt's dispatch.
-#}
{% macro mysql__create_view_as(relation, sql) -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {{ sql_header if sql_header is not none }}
  create view {{ relation }} as
    {{ sql }}
{%- endmacro %}

{% macro mysql__create_table_as(temporary, relation, sql) -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {{ sql_header if sql_header is not none }}
  create {% if temporary -%}temporary{%- endif %} table
    {{ relation.include(database=False) }}
  as
    {{ sql }}
{%- endmacro %}
