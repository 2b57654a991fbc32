{#- Indexes of the history tables on MySQL/MariaDB, where a delete+insert by key (dbt-mysql's
    incremental) and the open-interval lookup of every publish would otherwise scan the whole
    table: a unique index on `unique_cols` (which also makes a duplicate interval impossible)
    and the `extra` lookup indexes ({name: '(cols)'}). Idempotent (checked in
    information_schema). DuckDB needs none: it scans columns, and an ART index cannot be built
    in a transaction that deleted rows of its table (see ensure_inventory_indexes). -#}
{% macro ensure_history_indexes(unique_cols=['marketplace', 'sku', 'warehouse_id', 'stock_type', 'valid_from'],
                                extra={'ix_open': '(marketplace, valid_to)'}) -%}
  {%- if target.type in ('mysql', 'mariadb') -%}
    {%- set existing = [] -%}
    {%- if execute -%}
      {%- set rows = run_query("select distinct index_name from information_schema.statistics where table_schema = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'") -%}
      {%- for row in rows -%}{%- do existing.append(row[0]) -%}{%- endfor -%}
    {%- endif -%}
    {%- if 'ux_grain' not in existing -%}
      create unique index ux_grain on {{ this }} ({{ unique_cols | join(', ') }});
    {%- endif -%}
    {%- for name, cols in extra.items() if name not in existing -%}
      create index {{ name }} on {{ this }} {{ cols }};
    {%- endfor -%}
    select 1
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
