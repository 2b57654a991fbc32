-- Catalog attributes per account and SKU (/v3/product/info/list). The whole table is the
-- catalog (incremental syncs add new products to it), so it is not narrowed to the published load.
select
    account,
    {{ as_text('id') }} as marketplace_product_id,
    offer_id,
    {{ as_text('sku') }} as sku,
    name as product_name,
    {{ first_json_item('barcodes') }} as barcode
from {{ optional_source('raw_ozon', 'product_info', ['id', 'offer_id', 'sku', 'name', 'barcodes']) }} p
