-- The seller's own WB warehouses; `deliveryType` names the scheme their stock is sold under.
select
    {{ as_text('id') }} as warehouse_id,
    name as warehouse_name,
    {{ wb_seller_stock_type('delivery_type') }} as stock_type
from {{ optional_source('raw_wb', 'fbs_warehouses', ['id', 'name', 'delivery_type', '_dlt_load_id']) }} w
where _dlt_load_id = {{ publish_load_id('wb') }}
