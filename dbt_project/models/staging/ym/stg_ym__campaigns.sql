-- The campaigns (shops) of each account's published load, their model and whether their stock
-- was read (yandex_market.md §7: a campaign not AVAILABLE, or refused with 403, is skipped; its
-- stock keeps its published values, see int_inventory__ym).
select
    account,
    {{ as_text('campaign_id') }} as campaign_id,
    {{ as_text('business_id') }} as business_id,
    upper(placement_type) as placement_type,
    api_availability,
    case when lower({{ as_text('stocks_read') }}) in ('true', '1') then 1 else 0 end as stocks_read,
    skip_reason
from {{ optional_source('raw_ym', 'campaigns', ['campaign_id', 'business_id', 'placement_type', 'api_availability', 'stocks_read', 'skip_reason'], per_load=true) }} c
where campaign_id is not null
