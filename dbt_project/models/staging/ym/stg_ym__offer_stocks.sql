-- Stock per account, campaign, warehouse and offer (getStocks), each account's published load
-- only. The source mapped each offer's stock types to quantity_available (AVAILABLE, else
-- FIT − FREEZE) and quantity_reserved (FREEZE + QUARANTINE + DEFECT + EXPIRED + UTILIZATION):
-- yandex_market.md §7, pipelines/marketplaces/ym/source.py `offer_quantities`. sku = offer_id,
-- an exact string. Two accounts may report the same campaign and warehouse ids: `account`
-- keeps them apart.
select
    account,
    {{ as_text('offer_id') }} as sku,
    {{ as_text('offer_id') }} as offer_id,
    {{ as_text('campaign_id') }} as campaign_id,
    {{ as_text('business_id') }} as business_id,
    upper(placement_type) as placement_type,
    {{ as_text('warehouse_id') }} as warehouse_id,
    {{ as_int('quantity_available') }} as quantity_available,
    {{ as_int('quantity_reserved') }} as quantity_reserved,
    -- Three of the types as sent (null: not in stocks[]), for the answer check FIT = AVAILABLE + FREEZE.
    {{ as_int('available') }} as available_units,
    {{ as_int('fit') }} as fit_units,
    {{ as_int(adapter.quote('freeze')) }} as freeze_units,  -- FREEZE is a keyword in DuckDB
    _invalid_reason as invalid_reason,
    _dlt_load_id as load_id
from {{ optional_source('raw_ym', 'offer_stocks', ['offer_id', 'campaign_id', 'business_id', 'placement_type', 'warehouse_id', 'quantity_available', 'quantity_reserved', 'available', 'fit', 'freeze', '_invalid_reason', '_dlt_load_id'], per_load=true) }} s
