{#- Wildberries' own rules, used by its staging and intermediate models (models/*/wb/). -#}

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
