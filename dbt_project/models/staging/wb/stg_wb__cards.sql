-- Product cards, one row per barcode: nmID, vendorCode and title for FBS rows and names.
select
    {{ as_text('barcode') }} as sku,
    {{ as_text('nm_id') }} as marketplace_product_id,
    vendor_code as offer_id,
    title as product_name,
    tech_size
from {{ source('raw_wb', 'cards') }}
where _dlt_load_id = {{ publish_load_id('wb') }}
  and barcode is not null
