-- The catalog of each account's published load (offer-mappings, read whole on every sync): one
-- row per account, business and offer. marketplace_product_id = marketSku as text (null while
-- the offer has no card); barcode = the first of `barcodes` (yandex_market.md §7).
select
    account,
    {{ as_text('business_id') }} as business_id,
    {{ as_text('offer_id') }} as sku,
    {{ as_text('offer_id') }} as offer_id,
    {{ as_text('market_sku') }} as marketplace_product_id,
    name as product_name,
    {{ first_json_item('barcodes') }} as barcode
from {{ optional_source('raw_ym', 'offers', ['business_id', 'offer_id', 'market_sku', 'name', 'barcodes'], per_load=true) }} o
where offer_id is not null
