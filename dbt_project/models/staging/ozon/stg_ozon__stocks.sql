-- Stock totals per product and stock type (/v4/product/info/stocks), published load only.
select
    {{ as_text('product_id') }} as marketplace_product_id,
    offer_id,
    {{ as_text('sku') }} as sku,
    {{ ozon_stock_type('type') }} as stock_type,
    {{ as_int('present') }} as quantity_present,
    {{ as_int('reserved') }} as quantity_reserved,
    _invalid_reason as invalid_reason,
    _dlt_load_id as load_id,
    _fetched_at as fetched_at
from {{ optional_source('raw_ozon', 'product_stocks', ['product_id', 'offer_id', 'sku', 'type', 'present', 'reserved', '_invalid_reason', '_dlt_load_id', '_fetched_at']) }} s
where _dlt_load_id = {{ publish_load_id('ozon') }}
