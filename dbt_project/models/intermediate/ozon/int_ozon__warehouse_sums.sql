-- Tagged `audit`: built with the snapshot (the write step selects `+tag:audit`), read by the audit's Ozon FBO sums check.
-- A table (one row per account, offer and stock type): three dbt tests and the audit read it, and as a
-- view each of them recomputed the Ozon stock from the raw tables twice over.
{{ config(materialized='table', tags=['audit']) }}
-- Per account, offer and stock type: the /v4/product/info/stocks totals of the account's
-- published load against the sums of its per-warehouse rows (int_inventory__ozon), and the FBO
-- method that account's load used (each account's own: another account's fallback changes nothing).
-- Nothing in Ozon's docs promises they agree (shared/api/ozon.md §1): the dbt tests and the
-- audit compare them, each with its own severity.
-- Offers with a per-warehouse row that int_inventory__snapshot rejects (a key the answer
-- repeated, a quantity that is not a whole number) are left out: that row is already reported
-- as rejected, and a repeated row must not double a sum. A v4 item repeated identically counts
-- once; a broken v4 total stays in, as the disagreement it is.
with totals as (
    select account, offer_id, stock_type, sum(quantity_present) as present, sum(quantity_reserved) as reserved
    from (
        select distinct account, marketplace_product_id, offer_id, sku, stock_type, quantity_present, quantity_reserved, invalid_reason
        from {{ ref('stg_ozon__stocks') }}
        where stock_type in ('FBO', 'FBS', 'realFBS')
    ) v4
    group by account, offer_id, stock_type
),

rejected as (
    select distinct account, offer_id, stock_type
    from (
        select account, offer_id, stock_type, sku, warehouse_id, count(*) as copies, max(invalid_reason) as invalid_reason,
               count(quantity_present) as present_known, count(quantity_reserved) as reserved_known
        from {{ ref('int_inventory__ozon') }}
        where stock_type in ('FBO', 'FBS', 'realFBS')
        group by account, offer_id, stock_type, sku, warehouse_id
    ) k
    where copies > 1 or invalid_reason is not null or present_known < copies or reserved_known < copies
),

per_warehouse as (
    select account, offer_id, stock_type, sum(quantity_present) as present, sum(quantity_reserved) as reserved
    from {{ ref('int_inventory__ozon') }}
    where stock_type in ('FBO', 'FBS', 'realFBS')
    group by account, offer_id, stock_type
),

offer_types as (
    select account, offer_id, stock_type from totals
    union
    select account, offer_id, stock_type from per_warehouse
)

-- (MySQL/MariaDB have no FULL OUTER JOIN: both sides join the union of keys.)
select
    k.account,
    k.offer_id,
    k.stock_type,
    coalesce(t.present, 0) as reported_present,
    coalesce(w.present, 0) as landed_present,
    coalesce(t.reserved, 0) as reported_reserved,
    coalesce(w.reserved, 0) as landed_reserved,
    coalesce(t.present, 0) - coalesce(t.reserved, 0) as reported_available,
    coalesce(w.present, 0) - coalesce(w.reserved, 0) as landed_available,
    (select max(f.method) from {{ ref('stg_ozon__fbo_stocks') }} f where f.account = k.account) as fbo_method
from offer_types k
left join totals t on t.account = k.account and t.offer_id = k.offer_id and t.stock_type = k.stock_type
left join per_warehouse w on w.account = k.account and w.offer_id = k.offer_id and w.stock_type = k.stock_type
where not exists (
    select 1 from rejected r
    where r.account = k.account and r.stock_type = k.stock_type and {{ null_safe_equals('r.offer_id', 'k.offer_id') }}
)
