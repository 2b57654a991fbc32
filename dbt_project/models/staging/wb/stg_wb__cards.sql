-- Product cards, one row per barcode: nmID, vendorCode and title for FBS rows and names.
-- The whole table is the catalog (incremental syncs merge edited cards into it), so it is not
-- narrowed to the published load like the stock tables.
select
    {{ as_text('barcode') }} as sku,
    {{ as_text('nm_id') }} as marketplace_product_id,
    vendor_code as offer_id,
    title as product_name,
    tech_size
from {{ optional_source('raw_wb', 'cards', ['barcode', 'nm_id', 'vendor_code', 'title', 'tech_size']) }}
where barcode is not null
