{#-
  After inventory_data is merged: every row of a published account of a marketplace was
  confirmed by that account's complete snapshot, so `last_sync_at` moves to its sync time (one
  set-based UPDATE; another account's rows keep theirs).
-#}
{% macro stamp_last_sync_at() -%}
  {%- set publishable = ref('int_sync__publishable') -%}
  {%- set same_account = "p.marketplace = " ~ this ~ ".marketplace and p.account = " ~ this ~ ".account" %}
  update {{ this }}
  set last_sync_at = (
      select p.synced_at from {{ publishable }} p where {{ same_account }}
  )
  where exists (select 1 from {{ publishable }} p where {{ same_account }})
    and last_sync_at < (
      select p.synced_at from {{ publishable }} p where {{ same_account }}
  )
{%- endmacro %}

{#- The indexes the queries need (by grain, by marketplace and sync time, by product). The grain
    is unique on both warehouses, so inventory_data can never hold two rows with one key:
    MySQL/MariaDB get a unique index plus the two lookup indexes (`create index if not exists`
    keeps it idempotent on MariaDB; MySQL 8 ignores the duplicate through the existence check);
    DuckDB gets a unique (ART) index on the grain and needs no other: here when the model
    created the table, else by `prepare_inventory_table` before the merge (DuckDB cannot build
    an index in a transaction that deleted rows of the table, as the merge does). -#}
{% macro ensure_inventory_indexes() -%}
  {%- if target.type in ('mysql', 'mariadb') -%}
    {%- set wanted = {
        'ux_inventory_grain': 'unique (marketplace, account, sku, warehouse_id, stock_type)',
        'ix_inventory_marketplace_sync': '(marketplace, last_sync_at)',
        'ix_inventory_product': '(product_id)'} -%}
    {%- set existing = [] -%}
    {%- if execute -%}
      {%- set rows = run_query("select distinct index_name from information_schema.statistics where table_schema = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'") -%}
      {%- for row in rows -%}{%- do existing.append(row[0]) -%}{%- endfor -%}
    {%- endif -%}
    {#- One statement each, run here: a hook of several statements ("create index …; select 1")
        leaves dbt-mysql's connection unusable for the COMMIT that follows. -#}
    {%- for name, definition in wanted.items() if execute and name not in existing -%}
      {%- set cols = definition.replace('unique ', '') -%}
      {%- do run_query("create " ~ ('unique ' if definition.startswith('unique') else '') ~ "index " ~ name ~ " on " ~ this ~ " " ~ cols) -%}
    {%- endfor -%}
    select 1
  {%- elif target.type == 'duckdb' -%}
    {%- set rows = run_query("select count(*) from duckdb_indexes() where index_name = 'ux_inventory_grain' and schema_name = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'") if execute else [[1]] -%}
    {%- if rows[0][0] == 0 -%}
      create unique index ux_inventory_grain on {{ this }} ({{ grain_columns() }})
    {%- else -%}
      select 1
    {%- endif -%}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- Before the merge, on a table from an older version:
    - DuckDB without the grain index (it once let an answer that repeated an item put two rows
      with one key in): the table is rebuilt with each key collapsed to the row written last,
      and the index is built on it;
    - MySQL/MariaDB: product names are stored whole (they can be longer than 500 characters), so
      a `product_name varchar(500)` (older tables, the adopted legacy one) or the `char(0)` a
      first build without any catalog gives is widened to mediumtext, in the collation of the
      table's other text columns. -#}
{% macro prepare_inventory_table() -%}
  {%- set relation = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) if execute else none -%}
  {%- if relation is none -%}
    select 1
  {%- elif target.type == 'duckdb' -%}
    {%- set rows = run_query("select count(*) from duckdb_indexes() where index_name = 'ux_inventory_grain' and schema_name = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "'") -%}
    {%- if rows[0][0] == 0 -%}
      {%- set rebuilt = this.incorporate(path={"identifier": this.identifier ~ "__one_row_per_key"}) -%}
      create or replace table {{ rebuilt }} as
          select * exclude (copy) from (
              select *, row_number() over (
                  partition by {{ grain_columns() }}
                  order by updated_at desc, last_sync_at desc, rowid desc) as copy
              from {{ this }}
          ) copies where copy = 1;
      drop table {{ this }};
      alter table {{ rebuilt }} rename to {{ this.identifier }};
      create unique index ux_inventory_grain on {{ this }} ({{ grain_columns() }})
    {%- else -%}
      select 1
    {%- endif -%}
  {%- elif target.type in ('mysql', 'mariadb') -%}
    {%- set rows = run_query("select data_type, (select collation_name from information_schema.columns where table_schema = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "' and column_name = 'sku') as collation_name from information_schema.columns where table_schema = '" ~ this.schema ~ "' and table_name = '" ~ this.identifier ~ "' and column_name = 'product_name'") -%}
    {%- if rows and rows[0][0] | lower not in ('text', 'mediumtext', 'longtext') -%}
      alter table {{ this }} modify product_name mediumtext character set utf8mb4{% if rows[0][1] and rows[0][1].startswith('utf8mb4') %} collate {{ rows[0][1] }}{% endif %} default null
    {%- else -%}
      select 1
    {%- endif -%}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
