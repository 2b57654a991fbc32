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

{#- Ozon stock `type` to the product's stock types; the one place this rule lives. -#}
{% macro ozon_stock_type(expr) -%}
  case lower({{ expr }})
    when 'fbo' then 'FBO'
    when 'fbs' then 'FBS'
    when 'rfbs' then 'realFBS'
    when 'realfbs' then 'realFBS'
    when 'fbp' then 'FBP'
  end
{%- endmacro %}

{#- First element of a JSON array of scalars stored as text, e.g. '["4600001"]' -> 4600001. -#}
{% macro first_json_item(expr) -%}
  {%- set cleaned = "nullif(replace(replace(replace(" ~ expr ~ ", '[', ''), ']', ''), '\"', ''), '')" -%}
  {%- if target.type in ('mysql', 'mariadb') -%} substring_index({{ cleaned }}, ',', 1)
  {%- else -%} split_part({{ cleaned }}, ',', 1) {%- endif -%}
{%- endmacro %}

{#- The text form of one WB place name list (the one place these names live in SQL). -#}
{% macro wb_aggregate_places() -%}
  ('Склад WB', 'Склад WB РФ', 'Склад WB СГТ РФ', '{{ wb_in_way_place() }}')
{%- endmacro %}

{#- The place that holds WB FBO units in way (to buyers and returns) when the remains report,
    which counts them per size but not per warehouse, is the FBO source. -#}
{% macro wb_in_way_place() -%} В пути (WB) {%- endmacro %}

{#- `physical`, or `aggregate` for WB places that are totals over several warehouses: since
    15 Aug 2026 WB reports most FBO stock as "Склад WB" (stocks report) or "Склад WB РФ" /
    "Склад WB СГТ РФ" (remains report). Only for raw loads landed before the source marked each
    place itself (`place_kind`, read from the answer: pipelines/marketplaces/wb/source.py `place_kind`). -#}
{% macro wb_place_kind(name_expr) -%}
  case when {{ name_expr }} in {{ wb_aggregate_places() }} then 'aggregate' else 'physical' end
{%- endmacro %}

{#- WB seller warehouse `deliveryType` to the stock type (the one place this rule lives).
    Missing or unknown: FBS, the only seller scheme before WB added the field. -#}
{% macro wb_seller_stock_type(expr) -%}
  case {{ as_int(expr) }}
    when 1 then 'FBS'
    when 2 then 'DBS'
    when 3 then 'DBW'
    when 5 then 'C&C'
    when 6 then 'EDBS'
    else 'FBS'
  end
{%- endmacro %}
