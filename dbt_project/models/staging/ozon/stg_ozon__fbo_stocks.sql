-- FBO stock per Ozon warehouse, from whichever method the published load used:
-- /v1/analytics/stocks (present = available + requested, reserved = requested) or the older
-- /v2/analytics/stock_on_warehouses (present = free_to_sell + reserved), which has names only.
select
    {{ as_text('sku') }} as sku,
    offer_id,
    name as product_name,
    {{ as_text('warehouse_id') }} as warehouse_id,
    warehouse_name,
    {{ as_int('available_stock_count') }} + {{ as_int('requested_stock_count') }} as quantity_present,
    {{ as_int('requested_stock_count') }} as quantity_reserved,
    _dlt_load_id as load_id
from {{ optional_source('raw_ozon', 'analytics_stocks', ['sku', 'offer_id', 'name', 'warehouse_id', 'warehouse_name', 'available_stock_count', 'requested_stock_count', '_dlt_load_id']) }} a
where _dlt_load_id = {{ publish_load_id('ozon') }}
  -- A sync that found the method retired half-way re-read everything with the older one:
  -- then only that complete answer counts.
  and not exists (
      select 1
      from {{ optional_source('raw_ozon', 'stock_on_warehouses', ['_dlt_load_id']) }} older
      where older._dlt_load_id = {{ publish_load_id('ozon') }}
  )

union all

select
    {{ as_text('sku') }} as sku,
    item_code as offer_id,
    item_name as product_name,
    {{ name_key('warehouse_name') }} as warehouse_id,
    warehouse_name,
    {{ as_int('free_to_sell_amount') }} + {{ as_int('reserved_amount') }} as quantity_present,
    {{ as_int('reserved_amount') }} as quantity_reserved,
    _dlt_load_id as load_id
from {{ optional_source('raw_ozon', 'stock_on_warehouses', ['sku', 'item_code', 'item_name', 'warehouse_name', 'free_to_sell_amount', 'reserved_amount', '_dlt_load_id']) }} s
where _dlt_load_id = {{ publish_load_id('ozon') }}
