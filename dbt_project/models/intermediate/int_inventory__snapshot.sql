-- The complete new state of every published account of every marketplace, before it is merged into
-- inventory_data: this is what the expectations audit (write-audit-publish).
--
-- One row per grain key (marketplace, account, sku, warehouse_id, stock_type), by construction.
-- Rows kept here with a `rejection_reason` are never published (the key keeps its previous
-- value in inventory_data: a rejected row counts as present, so it is never zeroed either):
--   * duplicate key: the answer carried the key more than once (an item repeated on a page
--     or across pages, or two items the marketplace keyed alike). Whether the copies are
--     identical or disagree, the key is rejected, never summed and never guessed: one row
--     stays here (the largest quantities, so the choice is deterministic), the reason says
--     how many copies and whether they agree, and the sync records it as a warning. The next
--     answer that carries the key once publishes it.
--   * invalid quantity: a quantity the source could not read as a whole number that fits
--     64 bits (text, empty, null, missing, fractional, out of range; see pipelines/pages.py).
--   * negative quantity; reserved exceeds present.
{{ config(materialized='table') }}
-- Each marketplace's rows come from its `int_inventory__<name>` (models/intermediate/<name>/), with
-- the columns, in this order: account, sku, marketplace_product_id, offer_id, warehouse_id,
-- warehouse_name, warehouse_kind, stock_type, quantity_present, quantity_reserved, invalid_reason,
-- product_name, barcode. `account` is the seller account whose raw dataset the row was read from.

-- Only the marketplaces this build publishes are read (`publishes`, macros/publish.sql): a sync
-- builds no other marketplace's models. Every ref() is still made, so dbt's graph has them all.
{%- set relations = {} %}
{%- for marketplace in var('marketplaces') %}
    {%- do relations.update({marketplace: ref('int_inventory__' ~ marketplace)}) %}
{%- endfor %}
{%- set read = [] %}
{%- for marketplace in var('marketplaces') if publishes(marketplace) %}{% do read.append(marketplace) %}{% endfor %}

with stock as {{ duckdb_cte('materialized') }} (
    {% for marketplace in read %}
    select '{{ marketplace }}' as marketplace, m.* from {{ relations[marketplace] }} m
    {% if not loop.last %}union all{% endif %}
    {% else %}{# no marketplace published (never from a sync): an empty relation of the same shape #}
    {%- set first = (var('marketplaces') | list)[0] %}
    select '{{ first }}' as marketplace, m.* from {{ relations[first] }} m where 1 = 0
    {% endfor %}
),

by_key as (
    {{ one_row_per_key('stock') }}
),

catalog as (
    select offer_id, max(product_id) as product_id from {{ ref('products') }} group by offer_id
)

select
    s.marketplace,
    s.account,
    s.sku,
    s.marketplace_product_id,
    s.offer_id,
    c.product_id,
    s.barcode,
    s.product_name,
    s.warehouse_id,
    s.warehouse_name,
    s.warehouse_kind,
    s.stock_type,
    s.quantity_present,
    s.quantity_reserved,
    s.quantity_present - s.quantity_reserved as quantity_available,
    s.copies,
    case
        when s.copies > 1 then concat(
            'duplicate key: the answer carried ', {{ as_text('s.copies') }},
            case when s.copies_agree = 1 then ' identical rows' else ' rows with different quantities' end,
            ' for it (none published)')
        when s.invalid_reason is not null then s.invalid_reason
        when s.quantity_present is null or s.quantity_reserved is null then 'invalid quantity: unknown'
        when s.quantity_present < 0 or s.quantity_reserved < 0 then 'negative quantity'
        when s.quantity_reserved > s.quantity_present then 'reserved exceeds present'
    end as rejection_reason
from by_key s
inner join ({{ publishable_accounts() }}) p on p.marketplace = s.marketplace and p.account = s.account
left join catalog c on c.offer_id = s.offer_id
