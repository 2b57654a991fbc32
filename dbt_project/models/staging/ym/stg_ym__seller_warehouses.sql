-- The seller's own warehouses (POST /v2/businesses/{businessId}/warehouses), published load
-- only: their names, and `express`, which makes an FBS campaign's stock there EXPRESS
-- (yandex_market.md §1, §7). One row per warehouse.
select
    {{ as_text('id') }} as warehouse_id,
    max(name) as warehouse_name,
    max(case when lower({{ as_text('express') }}) in ('true', '1') then 1 else 0 end) as is_express
from {{ optional_source('raw_ym', 'seller_warehouses', ['id', 'name', 'express', '_dlt_load_id']) }} w
where _dlt_load_id = {{ publish_load_id('ym') }}
  and id is not null
group by {{ as_text('id') }}
