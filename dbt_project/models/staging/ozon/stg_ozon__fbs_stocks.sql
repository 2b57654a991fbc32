-- FBS and rFBS stock per seller warehouse (/v2/product/info/stocks-by-warehouse/fbs).
select
    {{ as_text('sku') }} as sku,
    offer_id,
    {{ as_text('product_id') }} as marketplace_product_id,
    {{ as_text('warehouse_id') }} as warehouse_id,
    warehouse_name,
    {{ as_int('present') }} as quantity_present,
    {{ as_int('reserved') }} as quantity_reserved,
    _dlt_load_id as load_id
from {{ optional_source('raw_ozon', 'fbs_stocks', ['sku', 'offer_id', 'product_id', 'warehouse_id', 'warehouse_name', 'present', 'reserved', '_dlt_load_id']) }}
where _dlt_load_id = {{ publish_load_id('ozon') }}
