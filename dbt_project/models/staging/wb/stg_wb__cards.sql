-- Product cards per account, one row per size (chrt_id) and barcode: the size's nmID,
-- vendorCode, title and its barcodes in card order (`barcode_position`; the first is the size's
-- sku). The whole table is the catalog (incremental syncs merge edited cards into it), so it is
-- not narrowed to the published load like the stock tables.
select
    account,
    {{ as_text('barcode') }} as sku,
    {{ as_text('chrt_id') }} as chrt_id,
    {{ as_text('nm_id') }} as marketplace_product_id,
    vendor_code as offer_id,
    title as product_name,
    tech_size,
    coalesce({{ as_int('barcode_position') }}, 0) as barcode_position
from {{ optional_source('raw_wb', 'cards', ['barcode', 'chrt_id', 'nm_id', 'vendor_code', 'title', 'tech_size', 'barcode_position']) }} c
where chrt_id is not null or barcode is not null
