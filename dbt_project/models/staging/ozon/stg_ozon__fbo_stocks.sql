-- FBO stock per account, SKU and Ozon warehouse, from the method each account's published load
-- used. Preferred, /v1/product/info/stocks-by-warehouse/fbo: present and reserved as Ozon gives
-- them. Fallback, /v1/analytics/stocks (a load holds its rows only when the method above was
-- gone): units available for sale only, so present = available and reserved = 0. Its cluster
-- aggregate rows (warehouse_id 0, no name) double-count and are dropped; supply-request
-- (`requested_stock_count`) and transit units are never stock. Which method answered is decided
-- per account: one account's fallback never changes how another account's rows are read.
with analytics as (
    select *
    from {{ optional_source('raw_ozon', 'analytics_stocks', ['sku', 'offer_id', 'name', 'warehouse_id', 'warehouse_name', 'available_stock_count', '_invalid_reason', '_dlt_load_id'], per_load=true) }} a
)

select
    f.account,
    {{ as_text('f.sku') }} as sku,
    f.offer_id,
    cast(null as {{ 'char' if target.type in ('mysql', 'mariadb') else 'varchar' }}) as product_name,
    {{ as_text('f.warehouse_id') }} as warehouse_id,
    cast(null as {{ 'char' if target.type in ('mysql', 'mariadb') else 'varchar' }}) as warehouse_name,
    {{ as_int('f.present') }} as quantity_present,
    {{ as_int('f.reserved') }} as quantity_reserved,
    'stocks_by_warehouse_fbo' as method,
    f._invalid_reason as invalid_reason,
    f._dlt_load_id as load_id
from {{ optional_source('raw_ozon', 'fbo_stocks', ['sku', 'offer_id', 'warehouse_id', 'present', 'reserved', '_invalid_reason', '_dlt_load_id'], per_load=true) }} f
where not exists (select 1 from analytics fallback where fallback.account = f.account)

union all

select
    account,
    {{ as_text('sku') }} as sku,
    offer_id,
    name as product_name,
    {{ as_text('warehouse_id') }} as warehouse_id,
    warehouse_name,
    {{ as_int('available_stock_count') }} as quantity_present,
    0 as quantity_reserved,
    'analytics_stocks' as method,
    _invalid_reason as invalid_reason,
    _dlt_load_id as load_id
from analytics
where {{ as_text('warehouse_id') }} <> '0'
  and coalesce(warehouse_name, '') <> ''
