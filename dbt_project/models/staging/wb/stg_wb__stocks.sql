-- FBO stock per WB warehouse from the statistics method (merged raw table = current picture).
-- present = quantityFull, reserved = both in-way counts, available = quantity.
select
    barcode as sku,
    {{ as_text('nm_id') }} as marketplace_product_id,
    supplier_article as offer_id,
    warehouse_name,
    {{ name_key('warehouse_name') }} as warehouse_id,
    {{ as_int('quantity_full') }} as quantity_present,
    {{ as_int('in_way_to_client') }} + {{ as_int('in_way_from_client') }} as quantity_reserved,
    {{ as_int('quantity') }} as quantity_available,
    last_change_date,
    _fetched_at as fetched_at
from {{ optional_source('raw_wb', 'supplier_stocks', ['barcode', 'nm_id', 'supplier_article', 'warehouse_name', 'quantity_full', 'in_way_to_client', 'in_way_from_client', 'quantity', 'last_change_date', '_fetched_at']) }}
where {{ publish_load_id('wb') }} is not null
