-- Stock totals per account, product and stock type (/v4/product/info/stocks), each account's
-- published load only.
select
    account,
    {{ as_text('product_id') }} as marketplace_product_id,
    offer_id,
    {{ as_text('sku') }} as sku,
    {{ ozon_stock_type('type') }} as stock_type,
    {{ as_int('present') }} as quantity_present,
    {{ as_int('reserved') }} as quantity_reserved,
    _invalid_reason as invalid_reason,
    _dlt_load_id as load_id,
    _fetched_at as fetched_at
from {{ optional_source('raw_ozon', 'product_stocks', ['product_id', 'offer_id', 'sku', 'type', 'present', 'reserved', '_invalid_reason', '_dlt_load_id', '_fetched_at'], per_load=true) }} s
