-- WB FBO stock per account, size (chrt_id) and WB warehouse from the stocks report
-- (/api/analytics/v1/stocks-report/wb-warehouses), each account's published load only. No
-- barcode here: the size's barcode comes from the cards. warehouse_id is the API's own id
-- (-999999 for the aggregate "Склад WB"); inventory_data keys WB places by name (see
-- int_inventory__wb). `place_kind`: aggregate or physical as the source read it from the
-- answer (the id's sign).
select
    account,
    {{ as_text('chrt_id') }} as chrt_id,
    {{ as_text('nm_id') }} as marketplace_product_id,
    {{ as_text('warehouse_id') }} as api_warehouse_id,
    warehouse_name,
    place_kind,
    {{ as_int('quantity') }} as quantity,
    {{ as_int('in_way_to_client') }} as in_way_to_client,
    {{ as_int('in_way_from_client') }} as in_way_from_client,
    _invalid_reason as invalid_reason,
    _dlt_load_id as load_id
from {{ optional_source('raw_wb', 'wb_warehouse_stocks', ['chrt_id', 'nm_id', 'warehouse_id', 'warehouse_name', 'place_kind', 'quantity', 'in_way_to_client', 'in_way_from_client', '_invalid_reason', '_dlt_load_id'], per_load=true) }} s
