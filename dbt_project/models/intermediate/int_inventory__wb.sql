-- WB stock at the inventory grain: FBO per WB warehouse (statistics method, or the remains
-- report when that is what the published load used) and FBS per seller warehouse.
with remains as (
    select * from {{ ref('stg_wb__warehouse_remains') }}
),

fbo as (
    select sku, marketplace_product_id, offer_id, warehouse_id, warehouse_name,
           'FBO' as stock_type, quantity_present, quantity_reserved
    from {{ ref('stg_wb__stocks') }}
    where not exists (select 1 from remains)
    union all
    select sku, marketplace_product_id, offer_id, warehouse_id, warehouse_name,
           'FBO' as stock_type, quantity_present, quantity_reserved
    from remains
),

cards as (
    select sku, max(marketplace_product_id) as marketplace_product_id, max(offer_id) as offer_id
    from {{ ref('stg_wb__cards') }}
    group by sku
),

fbs as (
    select
        f.sku,
        coalesce(c.marketplace_product_id, '') as marketplace_product_id,
        c.offer_id,
        f.warehouse_id,
        w.warehouse_name,
        'FBS' as stock_type,
        f.quantity_present,
        0 as quantity_reserved
    from {{ ref('stg_wb__fbs_stocks') }} f
    left join cards c on c.sku = f.sku
    left join {{ ref('stg_wb__fbs_warehouses') }} w on w.warehouse_id = f.warehouse_id
)

select * from fbo
union all
select * from fbs
