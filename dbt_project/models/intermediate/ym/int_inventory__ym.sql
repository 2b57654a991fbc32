-- Yandex Market stock at the inventory grain (account, sku, warehouse, stock type):
-- yandex_market.md §7. Every join, group and window keeps the account: two accounts may report
-- the same campaign and seller-warehouse ids, and their rows are never matched with each other.
--
-- One row per (campaign model, warehouseId, offerId) of the getStocks answers: sku = offer_id =
-- offerId; marketplace_product_id = marketSku (null without a card); stock type = the campaign's
-- placementType (FBY, FBS, DBS, LAAS), EXPRESS for an FBS campaign's row on a seller warehouse
-- with `express`; names from the Market or the seller warehouse list, else `warehouse <id>`
-- (an FBS returns warehouse is in neither). present = available + reserved, as the source
-- mapped the stock types (pipelines/marketplaces/ym/source.py `offer_quantities`).
--
-- A warehouse two campaigns of one model both report (a warehouse group) gives the same row
-- twice: copies that agree are one row (the first campaign's); copies that disagree stay, and
-- int_inventory__snapshot rejects the key as a duplicate. A key repeated within one campaign's
-- answer stays repeated (rejected there too), as for Ozon and WB.
--
-- Skipped campaigns (not AVAILABLE, or refused with 403: stg_ym__campaigns.stocks_read = 0) are
-- not read, so not zeroed (§7): the rows published before for their model (FBS also EXPRESS) on
-- warehouses this load did not read under that model are carried with their published
-- quantities (an account's own: another account's skipped campaign carries nothing of it).
-- inventory_data is read by name, not ref() (it is built from this model); before
-- the first publish there is nothing to carry.
-- depends_on: {{ ref('stg_ym__campaigns') }}  (read only once inventory_data exists)
{%- set published = adapter.get_relation(database=this.database, schema=this.schema, identifier='inventory_data') if execute else none %}

with offers as (
    select account, business_id, sku, max(marketplace_product_id) as marketplace_product_id,
           max(product_name) as product_name, max(barcode) as barcode
    from {{ ref('stg_ym__offers') }}
    group by account, business_id, sku
),

answered as (
    select
        s.account,
        s.sku,
        o.marketplace_product_id,
        s.offer_id,
        s.warehouse_id,
        coalesce(
            case when s.placement_type in ('FBY', 'LAAS') then coalesce(m.warehouse_name, w.warehouse_name)
                 else coalesce(w.warehouse_name, m.warehouse_name) end,
            concat('warehouse ', s.warehouse_id)) as warehouse_name,
        'physical' as warehouse_kind,
        case when s.placement_type = 'FBS' and w.is_express = 1 then 'EXPRESS' else s.placement_type end as stock_type,
        s.quantity_available + s.quantity_reserved as quantity_present,
        s.quantity_reserved,
        s.invalid_reason,
        o.product_name,
        o.barcode,
        s.campaign_id
    from {{ ref('stg_ym__offer_stocks') }} s
    left join offers o on o.account = s.account and o.business_id = s.business_id and o.sku = s.sku
    left join {{ ref('stg_ym__seller_warehouses') }} w on w.account = s.account and w.warehouse_id = s.warehouse_id
    left join {{ ref('stg_ym__fby_warehouses') }} m on m.account = s.account and m.warehouse_id = s.warehouse_id
),

ranked as (
    select
        answered.*,
        min(campaign_id) over (
            partition by account, sku, warehouse_id, stock_type, quantity_present, quantity_reserved) as first_campaign
    from answered
),

read_rows as (
    select account, sku, marketplace_product_id, offer_id, warehouse_id, warehouse_name, warehouse_kind, stock_type,
           quantity_present, quantity_reserved, invalid_reason, product_name, barcode
    from ranked
    where campaign_id = first_campaign
)

{%- if published is not none %},

skipped_types as (
    select account, placement_type as stock_type from {{ ref('stg_ym__campaigns') }} where stocks_read = 0
    union
    select account, 'EXPRESS' as stock_type from {{ ref('stg_ym__campaigns') }} where stocks_read = 0 and placement_type = 'FBS'
),

read_places as (
    select distinct account, warehouse_id, stock_type from read_rows
),

carried as (
    select
        i.account, i.sku, i.marketplace_product_id, i.offer_id, i.warehouse_id, i.warehouse_name, i.warehouse_kind,
        i.stock_type, i.quantity_present, i.quantity_reserved,
        cast(null as {{ 'char' if target.type in ('mysql', 'mariadb') else 'varchar' }}) as invalid_reason,
        i.product_name, i.barcode
    from {{ published }} i
    where i.marketplace = 'ym'
      and exists (select 1 from skipped_types t where t.account = i.account and t.stock_type = i.stock_type)
      and (i.quantity_present <> 0 or i.quantity_reserved <> 0)
      and not exists (
          select 1 from read_places p
          where p.account = i.account and p.warehouse_id = i.warehouse_id and p.stock_type = i.stock_type)
)

select * from read_rows
union all
select * from carried
{%- else %}

select * from read_rows
{%- endif %}
