-- Catalog attributes per SKU (/v3/product/info/list).
select
    {{ as_text('id') }} as marketplace_product_id,
    offer_id,
    {{ as_text('sku') }} as sku,
    name as product_name,
    {{ first_json_item('barcodes') }} as barcode
from {{ source('raw_ozon', 'product_info') }}
where _dlt_load_id = {{ publish_load_id('ozon') }}
