-- Current stock per (marketplace, account, sku, warehouse_id, stock_type): the data contract table.
--
-- Incremental: each run upserts only rows that are new, whose quantities or attributes
-- changed, or that a complete snapshot no longer contains (set to zero, never left stale).
-- Only the published accounts of each marketplace (int_sync__publishable) are touched, so a
-- failed or blocked sync changes nothing, and one account's sync never zeroes, stamps or
-- rewrites another account's rows (every join with the publishable accounts is on both
-- marketplace and account). `updated_at` moves only when quantities change; the post-hook stamps
-- `last_sync_at` on every row the published snapshot confirmed.
{{
  config(
    materialized='incremental',
    unique_key=['marketplace', 'account', 'sku', 'warehouse_id', 'stock_type'],
    on_schema_change='append_new_columns',
    pre_hook=["{{ require_account_column() }}", "{{ prepare_inventory_table() }}"],
    post_hook=[
      "{{ stamp_last_sync_at() }}",
      "{{ ensure_inventory_indexes() }}"
    ]
  )
}}

with publishable as (
    select marketplace, account, synced_at from {{ ref('int_sync__publishable') }}
),

snapshot as {{ duckdb_cte('not materialized') }} (
    select s.*, p.synced_at
    from {{ ref('int_inventory__snapshot') }} s
    inner join publishable p on p.marketplace = s.marketplace and p.account = s.account
),

valid as (
    select * from snapshot where rejection_reason is null
)

{% if is_incremental() %}
{#- A table from before `warehouse_kind` existed gets the column from this run (append_new_columns). -#}
{%- set has_kind = 'warehouse_kind' in adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
,
current_rows as {{ duckdb_cte('not materialized') }} (
    select t.*{% if not has_kind %}, cast(null as {{ 'char' if target.type in ('mysql', 'mariadb') else 'varchar' }}) as warehouse_kind{% endif %}
    from {{ this }} t
    inner join publishable p on p.marketplace = t.marketplace and p.account = t.account
),

changed as (
    select
        v.marketplace, v.account, v.sku, v.marketplace_product_id, v.offer_id, v.product_id, v.barcode,
        v.product_name, v.warehouse_id, v.warehouse_name, v.warehouse_kind, v.stock_type,
        v.quantity_present, v.quantity_reserved, v.quantity_available,
        v.synced_at as last_sync_at,
        case
            when c.sku is null
              or c.quantity_present <> v.quantity_present
              or c.quantity_reserved <> v.quantity_reserved
            then v.synced_at
            else c.updated_at
        end as updated_at
    from valid v
    left join current_rows c on {{ same_grain('c', 'v') }}
    where c.sku is null
       or c.quantity_present <> v.quantity_present
       or c.quantity_reserved <> v.quantity_reserved
       or coalesce(c.product_id, '') <> coalesce(v.product_id, '')
       or coalesce(c.product_name, '') <> coalesce(v.product_name, '')
       or coalesce(c.warehouse_name, '') <> coalesce(v.warehouse_name, '')
       or coalesce(c.warehouse_kind, '') <> coalesce(v.warehouse_kind, '')
       or coalesce(c.offer_id, '') <> coalesce(v.offer_id, '')
),

gone as (
    -- In the current table, not in the complete snapshot (rejected rows count as present,
    -- so a bad row never zeroes good data): set to zero.
    select
        c.marketplace, c.account, c.sku, c.marketplace_product_id, c.offer_id, c.product_id, c.barcode,
        c.product_name, c.warehouse_id, c.warehouse_name, c.warehouse_kind, c.stock_type,
        0 as quantity_present, 0 as quantity_reserved, 0 as quantity_available,
        p.synced_at as last_sync_at,
        p.synced_at as updated_at
    from current_rows c
    inner join publishable p on p.marketplace = c.marketplace and p.account = c.account
    where not exists (  -- an anti-join: only the snapshot's keys are held in memory
        select 1 from snapshot s
        where {{ same_grain('s', 'c') }}
    )
      and (c.quantity_present <> 0 or c.quantity_reserved <> 0)
)

,

upserts as (
    select * from changed
    union all
    select * from gone
)

{% else %}
,

upserts as (
    select
        marketplace, account, sku, marketplace_product_id, offer_id, product_id, barcode,
        product_name, warehouse_id, warehouse_name, warehouse_kind, stock_type,
        quantity_present, quantity_reserved, quantity_available,
        synced_at as last_sync_at,
        synced_at as updated_at
    from valid
)

{% endif %}

select
    {{ as_text('marketplace', 16) }} as marketplace,
    {{ as_text('sku', 64) }} as sku,
    {{ as_text('marketplace_product_id', 64) }} as marketplace_product_id,
    {{ as_text('offer_id', 255) }} as offer_id,
    {{ as_text('product_id', 64) }} as product_id,
    {{ as_text('barcode', 64) }} as barcode,
    {{ as_text('product_name') }} as product_name,  {#- whole: no length bound (MySQL: mediumtext) -#}
    {{ as_text('warehouse_id', 64) }} as warehouse_id,
    {{ as_text('warehouse_name', 255) }} as warehouse_name,
    {{ as_text('stock_type', 16) }} as stock_type,
    {{ as_int('quantity_present') }} as quantity_present,
    {{ as_int('quantity_reserved') }} as quantity_reserved,
    {{ as_int('quantity_available') }} as quantity_available,
    {{ as_timestamp('last_sync_at') }} as last_sync_at,
    {{ as_timestamp('updated_at') }} as updated_at,
    -- Legacy compatibility: the importer this replaces had `source` and `snapshot_date`;
    -- tools that still read them keep working (see migrations/).
    {%- set labels -%}
    case marketplace {% for name, label in var('marketplaces').items() %}when '{{ name }}' then '{{ label }}' {% endfor %}end
    {%- endset %}
    {{ as_text(labels, 16) }} as source,
    cast(last_sync_at as date) as snapshot_date,
    {{ as_text('warehouse_kind', 16) }} as warehouse_kind,
    -- The seller account (README, "Several seller accounts"); last, where `invsync migrate up`
    -- adds it to a table from before accounts, so old and new tables have one column order.
    {{ as_text('account', 32) }} as account
from upserts
