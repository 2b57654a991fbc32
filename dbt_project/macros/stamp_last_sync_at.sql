{#-
  After inventory_data is merged: every row of a published marketplace was confirmed by that
  sync's complete snapshot, so `last_sync_at` moves to the sync time (one set-based UPDATE).
-#}
{% macro stamp_last_sync_at() -%}
  {%- set publishable = ref('int_sync__publishable') -%}
  update {{ this }}
  set last_sync_at = (
      select p.synced_at from {{ publishable }} p where p.marketplace = {{ this }}.marketplace
  )
  where marketplace in (select marketplace from {{ publishable }})
    and last_sync_at < (
      select p.synced_at from {{ publishable }} p where p.marketplace = {{ this }}.marketplace
  )
{%- endmacro %}

{#- The indexes the queries need (by grain, by marketplace and sync time, by product); MySQL only:
    DuckDB needs none. `create index if not exists` keeps it idempotent (MariaDB; MySQL 8 ignores
    the duplicate through the existence check below). -#}
{% macro ensure_inventory_indexes() -%}
  {%- if target.type in ('mysql', 'mariadb') -%}
    {%- set wanted = {
        'ux_inventory_grain': 'unique (marketplace, sku, warehouse_id, stock_type)',
        'ix_inventory_marketplace_sync': '(marketplace, last_sync_at)',
        'ix_inventory_product': '(product_id)'} -%}
    {%- set existing = [] -%}
    {%- if execute -%}
      {%- set rows = run_query("select distinct index_name from information_schema.statistics where table_schema = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'") -%}
      {%- for row in rows -%}{%- do existing.append(row[0]) -%}{%- endfor -%}
    {%- endif -%}
    {%- for name, definition in wanted.items() if name not in existing -%}
      {%- set cols = definition.replace('unique ', '') -%}
      create {{ 'unique ' if definition.startswith('unique') }}index {{ name }} on {{ this }} {{ cols }};
    {%- endfor -%}
    select 1
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
