-- The catalog of the published load (offer-mappings, read whole on every sync): one row per
-- business and offer. marketplace_product_id = marketSku as text (null while the offer has no
-- card); barcode = the first of `barcodes` (yandex_market.md §7).
select
    {{ as_text('business_id') }} as business_id,
    {{ as_text('offer_id') }} as sku,
    {{ as_text('offer_id') }} as offer_id,
    {{ as_text('market_sku') }} as marketplace_product_id,
    name as product_name,
    {{ first_json_item('barcodes') }} as barcode
from {{ optional_source('raw_ym', 'offers', ['business_id', 'offer_id', 'market_sku', 'name', 'barcodes', '_dlt_load_id']) }} o
where _dlt_load_id = {{ publish_load_id('ym') }}
  and offer_id is not null
