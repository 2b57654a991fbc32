{#- Casts that work on DuckDB and MySQL/MariaDB (MySQL has no `cast(x as varchar|timestamp|bigint)`). -#}

{% macro as_text(expr, length=none) -%}
  {#- `length` bounds the MySQL column (indexable, and what a CREATE TABLE AS SELECT keeps). -#}
  {%- if target.type in ('mysql', 'mariadb') -%} cast({{ expr }} as char{% if length %}({{ length }}){% endif %})
  {%- else -%} cast({{ expr }} as varchar) {%- endif -%}
{%- endmacro %}

{% macro as_int(expr) -%}
  {%- if target.type in ('mysql', 'mariadb') -%} cast({{ expr }} as signed)
  {%- else -%} cast({{ expr }} as bigint) {%- endif -%}
{%- endmacro %}

{% macro as_timestamp(expr) -%}
  {%- if target.type in ('mysql', 'mariadb') -%} cast({{ expr }} as datetime(6))
  {%- else -%} cast({{ expr }} as timestamp) {%- endif -%}
{%- endmacro %}

{#- Stable warehouse key from a name (WB FBO warehouses have names only): 16 hex chars of md5. -#}
{% macro name_key(expr) -%}
  substr(md5({{ expr }}), 1, 16)
{%- endmacro %}

{#- First element of a JSON array of scalars stored as text, e.g. '["4600001"]' -> 4600001. -#}
{% macro first_json_item(expr) -%}
  {%- set cleaned = "nullif(replace(replace(replace(" ~ expr ~ ", '[', ''), ']', ''), '\"', ''), '')" -%}
  {%- if target.type in ('mysql', 'mariadb') -%} substring_index({{ cleaned }}, ',', 1)
  {%- else -%} split_part({{ cleaned }}, ',', 1) {%- endif -%}
{%- endmacro %}

{#- `a = b`, where two nulls are equal too; both spellings are joins the planner can hash
    (an `or ... is null` form is not, and made DuckDB compare every pair). -#}
{% macro null_safe_equals(a, b) -%}
  {%- if target.type in ('mysql', 'mariadb') -%} {{ a }} <=> {{ b }}
  {%- else -%} {{ a }} is not distinct from {{ b }} {%- endif -%}
{%- endmacro %}

{#- How DuckDB runs a CTE that more than one part of a query reads (`with x as {{ duckdb_cte('...') }} (`):
    `materialized` computes it once and keeps its rows (for a costly CTE read a few times);
    `not materialized` computes it for each reader instead of copying a whole table into memory
    (for a CTE that is only a scan and a small join: at 100,000 products the copies of
    inventory_data's two inputs were ~400 MB of the publish's peak). DuckDB picks by itself
    otherwise; MySQL/MariaDB have no such keyword (nothing is written). -#}
{% macro duckdb_cte(mode) -%}
  {%- if target.type not in ('mysql', 'mariadb') -%} {{ mode }} {%- endif -%}
{%- endmacro %}
