-- The complete new state of every published marketplace, before it is merged into
-- inventory_data: this is what the expectations audit (write-audit-publish).
-- Rows with negative quantities are kept here with a rejection reason and never published.
{{ config(materialized='table') }}
-- depends_on: {{ ref('int_ozon__warehouse_sums') }}  (built with the snapshot: the audit reads it)

with stock as (
    select 'ozon' as marketplace, o.* from {{ ref('int_inventory__ozon') }} o
    union all
    select 'wb' as marketplace, w.* from {{ ref('int_inventory__wb') }} w
),

names as (
    select 'ozon' as marketplace, sku, max(product_name) as product_name, max(barcode) as barcode
    from {{ ref('stg_ozon__products') }} group by sku
    union all
    select 'wb' as marketplace, sku, max(product_name) as product_name, max(sku) as barcode
    from {{ ref('stg_wb__cards') }} where sku is not null group by sku
),

catalog as (
    select offer_id, max(product_id) as product_id from {{ ref('products') }} group by offer_id
)

select
    s.marketplace,
    s.sku,
    s.marketplace_product_id,
    s.offer_id,
    c.product_id,
    n.barcode,
    n.product_name,
    s.warehouse_id,
    s.warehouse_name,
    s.warehouse_kind,
    s.stock_type,
    s.quantity_present,
    s.quantity_reserved,
    s.quantity_present - s.quantity_reserved as quantity_available,
    case
        when s.quantity_present < 0 or s.quantity_reserved < 0 then 'negative quantity'
        when s.quantity_reserved > s.quantity_present then 'reserved exceeds present'
    end as rejection_reason
from stock s
inner join {{ ref('int_sync__publishable') }} p on p.marketplace = s.marketplace
left join names n on n.marketplace = s.marketplace and n.sku = s.sku
left join catalog c on c.offer_id = s.offer_id
