-- FBO stock per WB warehouse from the warehouse-remains report (published load only).
-- The pseudo-warehouses are totals, not places, and are dropped here.
select
    barcode as sku,
    {{ as_text('nm_id') }} as marketplace_product_id,
    vendor_code as offer_id,
    warehouse_name,
    {{ name_key('warehouse_name') }} as warehouse_id,
    {{ as_int('quantity') }} as quantity_present,
    0 as quantity_reserved,
    _dlt_load_id as load_id
from {{ optional_source('raw_wb', 'warehouse_remains', ['barcode', 'nm_id', 'vendor_code', 'warehouse_name', 'quantity', '_dlt_load_id']) }} r
where _dlt_load_id = {{ publish_load_id('wb') }}
  and warehouse_name not in ('В пути до получателей', 'В пути возвраты на склад WB', 'Всего находится на складах')
