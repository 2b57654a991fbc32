-- Reconciliation: for Ozon, per offer and stock type, the per-warehouse rows add up to the
-- /v4/product/info/stocks totals of the same load. Returns the offers that do not.
{{ config(severity='warn') }}

with totals as (
    select offer_id, stock_type, sum(quantity_present) as present, sum(quantity_reserved) as reserved
    from {{ ref('stg_ozon__stocks') }}
    where stock_type in ('FBO', 'FBS', 'realFBS')
    group by offer_id, stock_type
),

per_warehouse as (
    select offer_id, stock_type, sum(quantity_present) as present, sum(quantity_reserved) as reserved
    from {{ ref('int_inventory__ozon') }}
    where stock_type in ('FBO', 'FBS', 'realFBS')
    group by offer_id, stock_type
),

offer_types as (
    select offer_id, stock_type from totals
    union
    select offer_id, stock_type from per_warehouse
)

-- (MySQL/MariaDB have no FULL OUTER JOIN: join both sides to the union of keys.)
select
    k.offer_id,
    k.stock_type,
    t.present as total_present, w.present as warehouse_present,
    t.reserved as total_reserved, w.reserved as warehouse_reserved
from offer_types k
left join totals t on t.offer_id = k.offer_id and t.stock_type = k.stock_type
left join per_warehouse w on w.offer_id = k.offer_id and w.stock_type = k.stock_type
where coalesce(t.present, 0) <> coalesce(w.present, 0)
   or coalesce(t.reserved, 0) <> coalesce(w.reserved, 0)
