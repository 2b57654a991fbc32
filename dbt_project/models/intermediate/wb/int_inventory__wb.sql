-- WB stock at the inventory grain (account, sku, warehouse, stock type). Every join and group
-- keeps the account, and which FBO report answered is each account's own: one account's
-- fallback to the remains report never changes how another account's stocks report is read.
--
-- The sku is the size's first barcode from its card (stock itself comes per size, chrt_id); a
-- size whose card or barcode is unknown still gets its row, under `chrt:<chrt_id>`.
-- WB FBO places are keyed by name (`name_key`), whichever method answered: the stocks report
-- and the remains report name the same places, so a switch between them, or WB's switch from
-- named warehouses to aggregate places, zeroes the old places and totals per size stay exact.
-- Whether a place is an aggregate is what the source read from the answer (`place_kind`: the
-- stocks report's negative id, the remains report's "Склад WB…" names); the list of names in
-- `wb_place_kind` only reads loads landed before the source said so.
--   stocks report: present = quantity + in-way both ways, reserved = in-way, available = quantity;
--   remains report (fallback): quantity per place, and the size's in-way units at one
--   aggregate place (the report does not split them by warehouse);
--   seller warehouses: present = available = amount, stock type from the warehouse's deliveryType.
-- `invalid_reason`: a quantity the source could not read as a whole number (the row is
-- rejected in int_inventory__snapshot, which also keeps one row per key).
with sizes as (
    select account, chrt_id, sku, marketplace_product_id, offer_id
    from (
        select
            account, chrt_id, sku, marketplace_product_id, offer_id,
            row_number() over (partition by account, chrt_id order by barcode_position, sku) as position
        from {{ ref('stg_wb__cards') }}
        where chrt_id is not null
    ) ranked
    where position = 1
),

remains as (
    select * from {{ ref('stg_wb__warehouse_remains') }}
),

stocks_report as (
    select
        r.account,
        coalesce(s.sku, concat('chrt:', r.chrt_id)) as sku,
        coalesce(s.marketplace_product_id, r.marketplace_product_id) as marketplace_product_id,
        s.offer_id,
        {{ name_key('r.warehouse_name') }} as warehouse_id,
        r.warehouse_name,
        coalesce(r.place_kind, {{ wb_place_kind('r.warehouse_name') }}) as warehouse_kind,
        'FBO' as stock_type,
        r.quantity + r.in_way_to_client + r.in_way_from_client as quantity_present,
        r.in_way_to_client + r.in_way_from_client as quantity_reserved,
        r.invalid_reason
    from {{ ref('stg_wb__fbo_stocks') }} r
    left join sizes s on s.account = r.account and s.chrt_id = r.chrt_id
    where not exists (select 1 from remains fallback where fallback.account = r.account)
),

remains_places as (
    select
        account, sku, marketplace_product_id, offer_id,
        {{ name_key('warehouse_name') }} as warehouse_id,
        warehouse_name,
        coalesce(place_kind, {{ wb_place_kind('warehouse_name') }}) as warehouse_kind,
        'FBO' as stock_type,
        quantity as quantity_present,
        0 as quantity_reserved,
        invalid_reason
    from remains
    where entry_kind = 'warehouse'
    union all
    select
        account, sku, max(marketplace_product_id), max(offer_id),
        {{ name_key("'" ~ wb_in_way_place() ~ "'") }},
        '{{ wb_in_way_place() }}',
        'aggregate',
        'FBO',
        -- an unreadable in-way count makes the whole in-way row unknown (rejected), never a smaller sum
        case when max(invalid_reason) is null then sum(quantity) end,
        case when max(invalid_reason) is null then sum(quantity) end,
        max(invalid_reason)
    from remains
    where entry_kind in ('in_way_to_client', 'in_way_from_client')
    group by account, sku
    having sum(quantity) <> 0 or max(invalid_reason) is not null
),

seller as (
    select
        f.account,
        coalesce(s.sku, concat('chrt:', f.chrt_id)) as sku,
        coalesce(s.marketplace_product_id, '') as marketplace_product_id,
        s.offer_id,
        f.warehouse_id,
        w.warehouse_name,
        'physical' as warehouse_kind,
        coalesce(w.stock_type, 'FBS') as stock_type,
        f.quantity_present,
        0 as quantity_reserved,
        f.invalid_reason
    from {{ ref('stg_wb__fbs_stocks') }} f
    left join sizes s on s.account = f.account and s.chrt_id = f.chrt_id
    left join {{ ref('stg_wb__fbs_warehouses') }} w on w.account = f.account and w.warehouse_id = f.warehouse_id
),

stock as (
    select * from stocks_report
    union all
    select * from remains_places
    union all
    select * from seller
),

-- Product names from the cards; a size's barcode is its sku.
names as (
    select account, sku, max(product_name) as product_name
    from {{ ref('stg_wb__cards') }}
    where sku is not null
    group by account, sku
)

select s.*, n.product_name, case when n.sku is not null then s.sku end as barcode
from stock s
left join names n on n.account = s.account and n.sku = s.sku
