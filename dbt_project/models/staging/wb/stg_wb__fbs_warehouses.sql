-- Each account's own WB warehouses (its published load); `deliveryType` names the scheme their
-- stock is sold under.
select
    account,
    {{ as_text('id') }} as warehouse_id,
    name as warehouse_name,
    {{ wb_seller_stock_type('delivery_type') }} as stock_type
from {{ optional_source('raw_wb', 'fbs_warehouses', ['id', 'name', 'delivery_type'], per_load=true) }} w
