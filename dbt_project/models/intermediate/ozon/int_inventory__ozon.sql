-- Ozon stock at the inventory grain (account, sku, warehouse, stock type):
-- FBO per Ozon warehouse, FBS/realFBS per seller warehouse, FBP from the totals.
-- `invalid_reason`: a quantity the source could not read as a whole number (the row is
-- rejected in int_inventory__snapshot). Rows are as the answers gave them: a key the answer
-- repeated appears twice here; int_inventory__snapshot keeps one row per key.
-- Product names and barcodes from the catalog (v3 product info). Every join and group keeps
-- the account: two accounts' ids (skus, warehouses) are never matched with each other.
with product_by_sku as (
    select account, sku, max(marketplace_product_id) as marketplace_product_id, max(offer_id) as offer_id
    from {{ ref('stg_ozon__stocks') }}
    where sku is not null
    group by account, sku
),

fbo as (
    select
        f.account,
        f.sku,
        coalesce(p.marketplace_product_id, '') as marketplace_product_id,
        coalesce(f.offer_id, p.offer_id) as offer_id,
        f.warehouse_id,
        -- The FBO method gives ids only: names from Ozon's warehouse list, else the id itself.
        coalesce(f.warehouse_name, n.warehouse_name, concat('Ozon warehouse ', f.warehouse_id)) as warehouse_name,
        'physical' as warehouse_kind,
        'FBO' as stock_type,
        f.quantity_present,
        f.quantity_reserved,
        f.invalid_reason
    from {{ ref('stg_ozon__fbo_stocks') }} f
    left join product_by_sku p on p.account = f.account and p.sku = f.sku
    left join {{ ref('stg_ozon__ozon_warehouses') }} n on n.account = f.account and n.warehouse_id = f.warehouse_id
),

fbs as (
    select
        s.account,
        s.sku,
        s.marketplace_product_id,
        s.offer_id,
        s.warehouse_id,
        coalesce(s.warehouse_name, w.warehouse_name) as warehouse_name,
        'physical' as warehouse_kind,
        coalesce(w.stock_type, 'FBS') as stock_type,
        s.quantity_present,
        s.quantity_reserved,
        s.invalid_reason
    from {{ ref('stg_ozon__fbs_stocks') }} s
    left join {{ ref('stg_ozon__warehouses') }} w on w.account = s.account and w.warehouse_id = s.warehouse_id
),

fbp as (
    select
        account, sku, marketplace_product_id, offer_id,
        'ozon-fbp' as warehouse_id, 'FBP' as warehouse_name, 'aggregate' as warehouse_kind, stock_type,
        quantity_present, quantity_reserved, invalid_reason
    from {{ ref('stg_ozon__stocks') }}
    where stock_type = 'FBP'
),

stock as (
    select * from fbo
    union all
    select * from fbs
    union all
    select * from fbp
),

names as (
    select account, sku, max(product_name) as product_name, max(barcode) as barcode
    from {{ ref('stg_ozon__products') }}
    group by account, sku
)

select s.*, n.product_name, n.barcode
from stock s
left join names n on n.account = s.account and n.sku = s.sku
